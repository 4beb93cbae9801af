"""The events on the log: frozen, explicitly tagged and versioned msgspec Structs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from schemas.ninjs import NinjsItem

Urgency = Annotated[int, msgspec.Meta(ge=1, le=9)]
Confidence = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
EntityType = Literal["person", "organisation", "place"]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", rename="camel"):
    """A fact on the log. Subclasses carry an explicit tag "<noun>.<past-verb>.v<major>"."""

    event_id: str
    article_id: str
    version: int
    occurred_at: datetime
    correlation_id: str


class ArticleContent(Event, frozen=True):
    """What a version of an article says: the fields every content event carries."""

    headline: str
    body_html: str
    byline: str = ""
    dateline: str = ""
    language: str = "en"
    urgency: Urgency = 5
    keywords: list[str] = []
    embargoed_until: datetime | None = None
    source: str = ""
    desk: str = ""
    filed_by: str = ""


class ArticleFiled(ArticleContent, frozen=True, tag="article.filed.v1"):
    """An editor filed a new article: version 1."""


class ArticleUpdated(ArticleContent, frozen=True, tag="article.updated.v1"):
    """An editor replaced the content of an article: a new version with the same ``uri``."""


class ArticleCorrected(ArticleContent, frozen=True, kw_only=True, tag="article.corrected.v1"):
    """A correction: a new version that says what was wrong."""

    correction_note: str


KillCategory = Literal["legal", "error", "duplicate", "other"]


class ArticleKilledV1(Event, frozen=True, kw_only=True, tag="article.killed.v1"):
    """The first kill event: a free-text reason only. Kept to document the log; read as v2."""

    reason: str
    killed_by: str = ""


class ArticleKilled(Event, frozen=True, kw_only=True, tag="article.killed.v2"):
    """The article is withdrawn (``pubStatus: canceled``) and must reach everyone who had it.

    v2 adds ``category``, so desks and partners can tell legal kills from errors and duplicates.
    """

    reason: str
    category: KillCategory
    killed_by: str = ""


class EmbargoChanged(Event, frozen=True, kw_only=True, tag="article.embargo-changed.v1"):
    """The embargo was set, extended or lifted (``None``: release now)."""

    embargoed_until: datetime | None
    changed_by: str = ""


class EntityTag(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A person, organisation or place found in an article, with who assigned it."""

    id: str
    name: str
    type: EntityType
    confidence: Confidence
    creator: str
    uri: str = ""


class SubjectTag(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An IPTC Media Topic assigned to an article."""

    code: str  # "medtop:11000000"
    name: str
    uri: str
    relevance: Percent
    confidence: Percent
    creator: str


class RelatedLink(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An earlier article that a reader of this one would want."""

    article_id: str
    headline: str
    score: float


class ArticleEnriched(Event, frozen=True, tag="article.enriched.v1"):
    """The enrich worker tagged one filed version and linked it to earlier coverage."""

    source_event_id: str  # the ArticleFiled event this enriches
    source_entry_id: str  # its entry id on the filed stream, to read it back
    tags: list[EntityTag] = []
    subjects: list[SubjectTag] = []
    related: list[RelatedLink] = []


class ArticlePublished(Event, frozen=True, tag="article.published.v1"):
    """A ninjs item was released to partners."""

    source_event_id: str  # the ArticleEnriched event this publishes
    item: NinjsItem


class DeadLettered(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An entry that kept failing, parked with its error; not an article event."""

    stream: str
    group: str
    entry_id: str
    deliveries: int
    error: str
    dead_at: datetime


AnyEvent = (
    ArticleFiled | ArticleUpdated | ArticleCorrected | ArticleKilled | EmbargoChanged | ArticleEnriched | ArticlePublished
)
CONTENT_EVENTS = (ArticleFiled, ArticleUpdated, ArticleCorrected)
