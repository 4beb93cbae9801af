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


class ArticleFiled(Event, frozen=True, tag="article.filed.v1"):
    """An editor filed a new article (version 1) or a new version of it."""

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


AnyEvent = ArticleFiled | ArticleEnriched | ArticlePublished
