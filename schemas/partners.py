"""Partners: who receives the wire, how, and which items. Registry events and the partner state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Mode = Literal["sse", "webhook", "feed"]
Status = Literal["active", "paused"]
PartnerName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Term = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Filters(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True):
    """Server-side filters. Within a list any value matches; across lists all must match; empty = any.

    Subjects match IPTC Media Topic codes (``medtop:16000000``), their URIs or names. People, organisations and
    places match entity ids (``geonames:630336``) or names, case-insensitively. ``minUrgency`` keeps
    items at least that urgent (IPTC urgency 1 is the most urgent, so ``urgency <= minUrgency``).
    """

    subjects: list[Term] = []
    places: list[Term] = []
    people: list[Term] = []
    organisations: list[Term] = []
    languages: list[Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]] = []
    min_urgency: Annotated[int, msgspec.Meta(ge=1, le=9)] | None = None


class WebhookSecret(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    secret: str  # "whsec_" + base64 of 32 random bytes
    created_at: datetime
    expires_at: datetime | None = None  # set when rotated out: still signs until then


class Webhook(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    url: str
    secrets: list[WebhookSecret]
    enabled: bool = True
    disabled_reason: str = ""


class Partner(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A partner as the registry projection holds it (the token lives in the credentials registry)."""

    name: str
    status: Status = "active"
    modes: list[Mode] = msgspec.field(default_factory=lambda: ["sse", "feed"])
    filters: Filters = Filters()
    webhook: Webhook | None = None
    created_at: datetime
    updated_at: datetime


class PartnerEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", rename="camel"):
    event_id: str
    occurred_at: datetime
    actor: str  # who made the change: an admin's name, "cli", or "delivery" for automatic changes


class PartnerRegistered(PartnerEvent, frozen=True, tag="partner.registered.v1"):
    partner: Partner


class PartnerChanged(PartnerEvent, frozen=True, tag="partner.changed.v1"):
    """The partner's whole new state (settings, filters, webhook, secrets) and why it changed."""

    partner: Partner
    reason: str = ""


class PartnerRemoved(PartnerEvent, frozen=True, tag="partner.removed.v1"):
    name: str


AnyPartnerEvent = PartnerRegistered | PartnerChanged | PartnerRemoved
