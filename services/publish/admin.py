"""The operators' partner API (admin keys only): register, change, pause, rotate, remove."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath, QueryParameter

from schemas.codec import encode_json
from schemas.partners import Partner, Webhook, WebhookSecret
from services.publish.partners import PartnerError, PartnerInvalid, PartnerNotFound, PartnerRegistry, new_webhook_secret
from services.publish.views import NewPartner, PartnerCreated, PartnerPatch, PartnerView, SecretRotated
from services.publish.webhooks import WebhookService
from services.wire.credentials import CredentialDirectory, Role
from services.wire.http import Problem, decode_json, require

ADMINS = frozenset({Role.ADMIN})
UrlCheck = Callable[[str], Awaitable[None]]


async def basic_url_check(url: str) -> None:
    """Scheme and host only; the webhook module adds the address checks."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL is an absolute http:// or https:// URL")


def _json(value: object, status: int = 200) -> Response[bytes]:
    return Response(encode_json(value), status_code=status, media_type="application/json")


def admin_routes(registry: PartnerRegistry, credentials: CredentialDirectory, webhooks: WebhookService,
                 check_url: UrlCheck = basic_url_check) -> list[Any]:
    async def admin(request: Request[Any, Any, Any]) -> str:
        return (await require(request, credentials, ADMINS)).name

    async def checked(url: str | None) -> None:
        if url is None:
            return
        try:
            await check_url(url)
        except ValueError as exc:
            raise Problem(422, "Webhook URL refused", str(exc), kind="webhook-url-refused") from exc

    def failed(exc: PartnerError) -> Problem:
        if isinstance(exc, PartnerNotFound):
            return Problem(404, "Not found", str(exc), kind="partner-not-found")
        if isinstance(exc, PartnerInvalid):
            return Problem(422, "Invalid partner", str(exc), kind="invalid-partner",
                           errors=[{"field": exc.field, "message": str(exc)}])
        return Problem(409, "Conflict", str(exc), kind="partner-conflict")

    @post("/v1/partners", summary="Register a partner", tags=["admin"], status_code=201)
    async def create(request: Request[Any, Any, Any]) -> Response[bytes]:
        actor = await admin(request)
        body = decode_json(await request.body(), NewPartner, "partner")
        await checked(body.webhook_url)
        try:
            partner, token, secret = await registry.register(
                body.name, modes=body.modes, filters=body.filters, webhook_url=body.webhook_url, actor=actor,
                now=datetime.now(UTC))
        except PartnerError as exc:
            raise failed(exc) from exc
        return _json(PartnerCreated(partner=PartnerView.of(partner), token=token, webhook_secret=secret), 201)

    @get("/v1/partners", summary="List partners", tags=["admin"])
    async def list_partners(request: Request[Any, Any, Any]) -> Response[bytes]:
        await admin(request)
        return _json([PartnerView.of(p) for p in await registry.all()])

    @get("/v1/partners/{name:str}", summary="One partner", tags=["admin"])
    async def show(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        await admin(request)
        partner = await registry.get(name)
        if partner is None:
            raise Problem(404, "Not found", f"no partner named {name!r}", kind="partner-not-found")
        return _json(PartnerView.of(partner))

    @patch("/v1/partners/{name:str}", summary="Change a partner's status, modes, filters or webhook", tags=["admin"])
    async def change(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        actor = await admin(request)
        body = decode_json(await request.body(), PartnerPatch, "partner")
        await checked(body.webhook_url)
        now = datetime.now(UTC)
        created_secret: list[str] = []

        def apply(partner: Partner) -> Partner:
            changed = partner
            if body.status is not None:
                changed = msgspec.structs.replace(changed, status=body.status)
            if body.modes is not None:
                changed = msgspec.structs.replace(changed, modes=body.modes)
            if body.filters is not None:
                changed = msgspec.structs.replace(changed, filters=body.filters)
            if body.webhook_url is not None or body.webhook_enabled is not None:
                changed, secret = _with_webhook(changed, body, now)
                created_secret[:] = [secret] if secret else []
            return changed

        try:
            partner = await registry.change(name, apply, actor=actor, reason="changed by an operator", now=now)
        except PartnerError as exc:
            raise failed(exc) from exc
        return _json(PartnerCreated(partner=PartnerView.of(partner), token=None,
                                    webhook_secret=created_secret[0] if created_secret else None))

    @delete("/v1/partners/{name:str}", summary="Remove a partner and revoke its token", tags=["admin"], status_code=204)
    async def remove(request: Request[Any, Any, Any], name: FromPath[str]) -> None:
        actor = await admin(request)
        try:
            await registry.remove(name, actor=actor, now=datetime.now(UTC))
        except PartnerError as exc:
            raise failed(exc) from exc

    @post("/v1/partners/{name:str}/rotate-secret", summary="A new webhook secret; old ones sign on for a while",
          tags=["admin"], status_code=200)
    async def rotate(
        request: Request[Any, Any, Any], name: FromPath[str],
        overlap_hours: Annotated[float, QueryParameter(name="overlapHours", ge=0, le=24 * 30)] = 24,
    ) -> Response[bytes]:
        actor = await admin(request)
        now = datetime.now(UTC)
        try:
            secret = await registry.rotate_secret(name, overlap=timedelta(hours=overlap_hours), actor=actor, now=now)
        except PartnerError as exc:
            raise failed(exc) from exc
        return _json(SecretRotated(webhook_secret=secret, old_secrets_expire_at=now + timedelta(hours=overlap_hours)))

    @post("/v1/partners/{name:str}/redrive", summary="Put a partner's webhook dead letters back in its queue",
          tags=["admin"], status_code=200)
    async def redrive(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        await admin(request)
        await _existing(name)
        return _json({"requeued": await webhooks.redrive(name)})

    @post("/v1/partners/{name:str}/replay", summary="Queue again the webhook items published since a time",
          tags=["admin"], status_code=200)
    async def replay(request: Request[Any, Any, Any], name: FromPath[str],
                     since: Annotated[str, QueryParameter()]) -> Response[bytes]:
        await admin(request)
        await _existing(name)
        try:
            moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise Problem(400, "Bad since", f"{since!r} is not an RFC 3339 time", kind="bad-since") from None
        if moment.tzinfo is None:
            raise Problem(400, "Bad since", "give `since` a time zone, e.g. 2026-05-04T09:30:00Z", kind="bad-since")
        return _json({"requeued": await webhooks.replay(name, moment)})

    @get("/v1/partners/{name:str}/deliveries", summary="A partner's latest webhook attempts, newest first",
         tags=["admin"])
    async def deliveries(request: Request[Any, Any, Any], name: FromPath[str],
                         count: Annotated[int, QueryParameter(ge=1, le=1000)] = 100) -> Response[bytes]:
        await admin(request)
        await _existing(name)
        return _json(await webhooks.deliveries(name, count))

    async def _existing(name: str) -> None:
        if await registry.get(name) is None:
            raise Problem(404, "Not found", f"no partner named {name!r}", kind="partner-not-found")

    return [create, list_partners, show, change, remove, rotate, redrive, replay, deliveries]


def _with_webhook(partner: Partner, body: PartnerPatch, now: datetime) -> tuple[Partner, str | None]:
    """The partner with its webhook changed, and the new secret if a webhook was created."""
    webhook = partner.webhook
    secret = None
    if body.webhook_url is not None:
        if webhook is None:
            secret = new_webhook_secret()
            webhook = Webhook(url=body.webhook_url, secrets=[WebhookSecret(secret=secret, created_at=now)])
        else:
            webhook = msgspec.structs.replace(webhook, url=body.webhook_url)
    if webhook is not None and body.webhook_enabled is not None:
        webhook = msgspec.structs.replace(webhook, enabled=body.webhook_enabled,
                                          disabled_reason="" if body.webhook_enabled else "disabled by an operator")
    return msgspec.structs.replace(partner, webhook=webhook), secret
