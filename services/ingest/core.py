"""Ingest decisions: validate a filing, sanitise its HTML, and build the ArticleFiled event.

Pure: the caller passes the clock reading and the ids.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec
import nh3

from schemas.events import (
    ArticleCorrected,
    ArticleFiled,
    ArticleKilled,
    ArticleUpdated,
    EmbargoChanged,
    KillCategory,
    Urgency,
)

ARTICLE_URN = "urn:newswire:article:"
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c1a43-6b0e-4b52-9e55-6c7c7a3c2f11")
_LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
_KEY_CHARS = re.compile(r"^[\x21-\x7e]{1,255}$")

# What an article body may contain: structure and links, nothing that runs.
ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "blockquote", "q", "cite", "pre", "code",
    "ul", "ol", "li", "dl", "dt", "dd", "strong", "em", "b", "i", "u", "s", "sub", "sup", "small",
    "a", "abbr", "span", "figure", "figcaption", "table", "thead", "tbody", "tr", "th", "td", "caption",
})
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"}, "abbr": {"title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


class FileArticle(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    """The body of ``POST /v1/articles``."""

    headline: Annotated[str, msgspec.Meta(min_length=1, max_length=400, description="The headline, plain text")]
    body: Annotated[str, msgspec.Meta(description="The story as HTML; scripts and event handlers are removed")]
    byline: Annotated[str, msgspec.Meta(max_length=400)] = ""
    dateline: Annotated[str, msgspec.Meta(max_length=200)] = ""
    language: Annotated[str, msgspec.Meta(pattern=_LANGUAGE, max_length=35)] = "en"
    urgency: Urgency = 5
    keywords: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=100)]], msgspec.Meta(max_length=50)] = []
    embargoed_until: datetime | None = None
    source: Annotated[str, msgspec.Meta(max_length=200)] = ""
    desk: Annotated[str, msgspec.Meta(max_length=100)] = ""


class FilingAccepted(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The answer to an accepted filing (``202``)."""

    article_id: str
    version: int
    event_id: str
    entry_id: str
    location: str


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class InvalidFiling(ValueError):
    """A filing that decodes but breaks a rule; carries one message per field."""

    def __init__(self, errors: list[FieldError], status: int = 422) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors
        self.status = status


_decoder = msgspec.json.Decoder(FileArticle)


def decode_filing(raw: bytes) -> FileArticle:
    """Strict decode: wrong types, unknown and missing fields raise ``msgspec`` errors with a path."""
    return _decoder.decode(raw)


def sanitise_html(html: str) -> str:
    return nh3.clean(
        html, tags=set(ALLOWED_TAGS), attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES), link_rel="noopener noreferrer", strip_comments=True,
    )


def check_filing(filing: FileArticle, *, max_body_bytes: int, now: datetime) -> None:
    errors: list[FieldError] = []
    if not filing.headline.strip():
        errors.append(FieldError("$.headline", "must not be empty or blank"))
    if not filing.body.strip():
        errors.append(FieldError("$.body", "must not be empty"))
    body_size = len(filing.body.encode())
    if body_size > max_body_bytes:
        raise InvalidFiling([FieldError("$.body", f"is {body_size} bytes; the limit is {max_body_bytes}")], status=413)
    if filing.embargoed_until is not None and filing.embargoed_until.tzinfo is None:
        errors.append(FieldError("$.embargoedUntil", "needs a time zone offset, e.g. 2026-01-02T09:00:00Z"))
    if errors:
        raise InvalidFiling(errors)


def new_article_id(editor: str, idempotency_key: str | None, random_id: uuid.UUID) -> str:
    """A URN for a new article; with an idempotency key it is derived, so a retry gets the same one."""
    if idempotency_key is None:
        return ARTICLE_URN + str(random_id)
    return ARTICLE_URN + str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{editor}\n{idempotency_key}"))


def valid_idempotency_key(key: str) -> bool:
    return bool(_KEY_CHARS.match(key))


def fingerprint(editor: str, raw_body: bytes) -> str:
    return hashlib.sha256(editor.encode() + b"\n" + raw_body).hexdigest()


@dataclass(frozen=True)
class FilingIds:
    article_id: str
    event_id: str
    correlation_id: str


def build_filed(filing: FileArticle, ids: FilingIds, *, editor: str, now: datetime) -> ArticleFiled:
    body = sanitise_html(filing.body)
    if not nh3.clean(body, tags=set()).strip():
        raise InvalidFiling([FieldError("$.body", "has no text once scripts and markup are removed")])
    return ArticleFiled(
        event_id=ids.event_id,
        article_id=ids.article_id,
        version=1,
        occurred_at=now,
        correlation_id=ids.correlation_id,
        headline=" ".join(filing.headline.split()),
        body_html=body,
        byline=filing.byline.strip(),
        dateline=filing.dateline.strip(),
        language=filing.language,
        urgency=filing.urgency,
        keywords=[k.strip() for k in filing.keywords if k.strip()],
        embargoed_until=filing.embargoed_until,
        source=filing.source.strip(),
        desk=filing.desk.strip(),
        filed_by=editor,
    )


def location(article_id: str) -> str:
    return "/v1/articles/" + article_id.removeprefix(ARTICLE_URN)


class CorrectArticle(FileArticle, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    """The body of ``POST /v1/articles/{id}/corrections``: the corrected story and what was wrong."""

    correction_note: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class KillArticle(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    """The body of ``POST /v1/articles/{id}/kill``."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    category: KillCategory = "other"


class ChangeEmbargo(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    """The body of ``PUT /v1/articles/{id}/embargo``: a new time, or ``null`` to release now."""

    embargoed_until: datetime | None


class CommandAccepted(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The answer to an accepted later command (``202``)."""

    article_id: str
    version: int
    event_id: str
    entry_id: str


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def article_urn(path_id: str) -> str | None:
    """The article URN for the id in a URL, or None when it is not one of ours."""
    path_id = path_id.lower()
    return ARTICLE_URN + path_id if _UUID.match(path_id) else None


def parse_if_match(header: str) -> int | None:
    """The version in an ``If-Match`` header (``"3"``, ``W/"3"`` or ``3``)."""
    match = _IF_MATCH.match(header)
    return int(match.group(1)) if match else None


def embargo_ms(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1000) if moment else 0


def check_embargo(moment: datetime | None) -> None:
    if moment is not None and moment.tzinfo is None:
        raise InvalidFiling([FieldError("$.embargoedUntil", "needs a time zone offset, e.g. 2026-01-02T09:00:00Z")])


def build_new_version(
    filing: FileArticle, ids: FilingIds, *, editor: str, now: datetime, version: int, embargo: datetime | None
) -> ArticleUpdated | ArticleCorrected:
    """An update (or, for a ``CorrectArticle``, a correction): the whole new content as version ``version``."""
    first = build_filed(filing, ids, editor=editor, now=now)
    fields = {f: getattr(first, f) for f in first.__struct_fields__ if f != "version"}
    fields["embargoed_until"] = filing.embargoed_until or embargo
    if isinstance(filing, CorrectArticle):
        return ArticleCorrected(**fields, version=version, correction_note=filing.correction_note.strip())
    return ArticleUpdated(**fields, version=version)


def build_killed(kill: KillArticle, ids: FilingIds, *, editor: str, now: datetime, version: int) -> ArticleKilled:
    return ArticleKilled(event_id=ids.event_id, article_id=ids.article_id, version=version, occurred_at=now,
                         correlation_id=ids.correlation_id, reason=kill.reason.strip(), category=kill.category,
                         killed_by=editor)


def build_embargo_changed(change: ChangeEmbargo, ids: FilingIds, *, editor: str, now: datetime,
                          version: int) -> EmbargoChanged:
    return EmbargoChanged(event_id=ids.event_id, article_id=ids.article_id, version=version, occurred_at=now,
                          correlation_id=ids.correlation_id, embargoed_until=change.embargoed_until, changed_by=editor)
