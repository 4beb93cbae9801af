"""What the partner APIs show and accept: request bodies and views without secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from schemas.partners import Filters, Mode, Partner, PartnerName, Status


class SecretView(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    created_at: datetime
    expires_at: datetime | None = None


class WebhookView(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    url: str
    enabled: bool
    disabled_reason: str
    secrets: list[SecretView]


class PartnerView(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    name: str
    status: Status
    modes: list[Mode]
    filters: Filters
    webhook: WebhookView | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, partner: Partner) -> PartnerView:
        webhook = None
        if partner.webhook is not None:
            webhook = WebhookView(
                url=partner.webhook.url, enabled=partner.webhook.enabled, disabled_reason=partner.webhook.disabled_reason,
                secrets=[SecretView(created_at=s.created_at, expires_at=s.expires_at) for s in partner.webhook.secrets],
            )
        return cls(name=partner.name, status=partner.status, modes=partner.modes, filters=partner.filters, webhook=webhook,
                   created_at=partner.created_at, updated_at=partner.updated_at)


class NewPartner(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True):
    """The body of ``POST /v1/partners``."""

    name: PartnerName
    modes: Annotated[list[Mode], msgspec.Meta(min_length=1)] = msgspec.field(default_factory=lambda: ["sse", "feed"])
    filters: Filters = Filters()
    webhook_url: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class PartnerCreated(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The answer to a registration or change: the only time a token or webhook secret is shown."""

    partner: PartnerView
    token: str | None
    webhook_secret: str | None


class PartnerPatch(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True):
    """The body of ``PATCH /v1/partners/{name}``: only the fields given change."""

    status: Status | None = None
    modes: Annotated[list[Mode], msgspec.Meta(min_length=1)] | None = None
    filters: Filters | None = None
    webhook_url: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    webhook_enabled: bool | None = None


class SecretRotated(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    webhook_secret: str
    old_secrets_expire_at: datetime


class FeedPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One page of the pull feed: ninjs items in wire order and the cursor to continue from."""

    items: list[msgspec.Raw]
    next: str
