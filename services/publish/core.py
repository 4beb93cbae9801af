"""Publish decisions: the ninjs 3.1 item of an article version, built from its events. Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec

from schemas.events import ArticleContent, ArticleCorrected, ArticleEnriched, ArticleKilled, EmbargoChanged, EntityTag
from schemas.ninjs import NINJS_3_1, AltId, Association, Body, Headline, Named, NinjsItem, Subject

_TAG = re.compile(r"<[^>]+>")
_SSE_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_ENTITY_LISTS = {"person": "people", "organisation": "organisations", "place": "places"}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def word_count(html: str) -> int:
    return len(_TAG.sub(" ", html).split())


def _named(tag: EntityTag) -> Named:
    return Named(name=tag.name, uri=tag.uri or None, literal=tag.id, rel="mentioned")


def build_item(filed: ArticleContent, enriched: ArticleEnriched, first_created: datetime | None = None) -> NinjsItem:
    """The ninjs item for the version ``filed`` made, with the tags and links ``enriched`` found.

    ``first_created`` is when version 1 was filed (defaults to this event's time).
    """
    entities: dict[str, list[Named]] = {"people": [], "organisations": [], "places": []}
    for tag in enriched.tags:
        entities[_ENTITY_LISTS[tag.type]].append(_named(tag))
    subjects = [
        Subject(name=s.name, uri=s.uri, creator=s.creator, relevance=s.relevance, confidence=s.confidence, rel="about")
        for s in enriched.subjects
    ]
    subjects += [Subject(name=k, rel="keyword", creator="editor") for k in filed.keywords]
    return NinjsItem(
        uri=filed.article_id,
        type="text",
        version=str(filed.version),
        first_created=rfc3339(first_created or filed.occurred_at),
        version_created=rfc3339(filed.occurred_at),
        embargoed_until=rfc3339(filed.embargoed_until) if filed.embargoed_until else None,
        pub_status="usable",
        urgency=filed.urgency,
        language=filed.language,
        headlines=[Headline(value=filed.headline)],
        bodies=[Body(value=filed.body_html, role="main", content_type="text/html",
                     char_count=len(filed.body_html), word_count=word_count(filed.body_html))],
        by=filed.byline or None,
        located=filed.dateline or None,
        people=entities["people"],
        organisations=entities["organisations"],
        places=entities["places"],
        subjects=subjects,
        associations=[
            Association(name=link.headline, uri=link.article_id, rel="related", type="text")
            for link in enriched.related
        ],
        alt_ids=[AltId(role="newswire:event", value=filed.event_id)],
        standard=NINJS_3_1,
        ed_note=f"Correction: {filed.correction_note}" if isinstance(filed, ArticleCorrected) else None,
    )


def killed_item(last: NinjsItem | None, killed: ArticleKilled) -> NinjsItem:
    """The item that withdraws an article: the last version partners had, ``canceled``."""
    base = last or NinjsItem(uri=killed.article_id, type="text", pub_status="canceled")
    return msgspec.structs.replace(
        base, pub_status="canceled", version=str(killed.version), version_created=rfc3339(killed.occurred_at),
        ed_note=f"Withdrawn ({killed.category}): {killed.reason}", embargoed_until=None,
    )


def re_embargoed(held: NinjsItem, change: EmbargoChanged) -> NinjsItem:
    """A held item with its embargo moved (or lifted: ``None``), as the version the change made."""
    until = rfc3339(change.embargoed_until) if change.embargoed_until else None
    return msgspec.structs.replace(held, version=str(change.version), version_created=rfc3339(change.occurred_at),
                                   embargoed_until=until)


def valid_event_id(value: str) -> bool:
    """A ``Last-Event-ID`` the stream can resume from: a Redis stream entry id."""
    return bool(_SSE_ID.match(value))
