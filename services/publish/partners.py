"""The partner registry: events on the registry stream, and the projection every mode reads.

Each change appends a ``partner.*`` event and rewrites the partner's entry in the projection in
one transaction (both keys carry ``{registry}``). A change is optimistic: it is retried if another
writer changed the same partner in between.
"""

from __future__ import annotations

import asyncio
import base64
import difflib
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import cache

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from schemas.partners import (
    AnyPartnerEvent,
    Filters,
    Mode,
    Partner,
    PartnerChanged,
    PartnerRegistered,
    PartnerRemoved,
    Webhook,
    WebhookSecret,
)
from schemas.streams import partner_key, registry_key
from services.enrich.topics import load_topics
from services.publish.filters import CompiledFilters
from services.wire.background import Background
from services.wire.credentials import REGISTRY_STREAM, Role, issue, revoke
from services.wire.eventlog import as_entries

PARTNERS = registry_key("partners")  # name -> Partner (JSON)
log = structlog.get_logger()

_partner = msgspec.json.Decoder(Partner)
_event_encoder = msgspec.json.Encoder()


class PartnerError(ValueError):
    """A registry change that cannot be made as asked."""


class PartnerInvalid(PartnerError):
    """Settings that could never work, such as a subject filter that names no IPTC Media Topic; ``field`` is
    the JSON path of the value at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@cache
def _media_topic_terms() -> dict[str, str]:
    """Every value a subject filter can match, case-folded, to its topic's name: the code, URI and name of
    each IPTC Media Topic the enrich worker assigns subjects from (the only subjects an item can carry)."""
    return {term.casefold(): t.name for t in load_topics() for term in (t.code, t.uri, t.name)}


def check_subjects(filters: Filters, already: Iterable[str] = ()) -> None:
    """Refuse a subject filter that names no IPTC Media Topic, which no item could ever match (a partner
    that silently receives nothing). Values in ``already`` (a partner's current filters) pass as they are."""
    terms = _media_topic_terms()
    kept = set(already)
    for i, subject in enumerate(filters.subjects):
        if subject in kept or subject.casefold() in terms:
            continue
        close = difflib.get_close_matches(subject.casefold(), {name.casefold() for name in terms.values()}, n=1)
        hint = f"; did you mean {terms[close[0]]!r}?" if close else ""
        raise PartnerInvalid(f"subject filter {subject!r} names no IPTC Media Topic: give a code such as "
                             f"medtop:15000000, its URI or its name{hint}", field=f"$.filters.subjects[{i}]")


class PartnerNotFound(PartnerError):
    pass


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sent_key(name: str) -> str:
    """Article ids this partner has been sent, in any mode: kills and new versions follow them."""
    return partner_key(name, "sent")


class PartnerRegistry:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def get(self, name: str) -> Partner | None:
        raw = await self.redis.hget(PARTNERS, name)  # type: ignore[misc]
        return _partner.decode(raw) if raw else None

    async def require(self, name: str) -> Partner:
        partner = await self.get(name)
        if partner is None:
            raise PartnerNotFound(f"no partner named {name!r}")
        return partner

    async def all(self) -> list[Partner]:
        rows = await self.redis.hvals(PARTNERS)  # type: ignore[misc]
        return sorted((_partner.decode(r) for r in rows), key=lambda p: p.name)

    async def register(
        self, name: str, *, modes: list[Mode], filters: Filters, webhook_url: str | None, actor: str, now: datetime
    ) -> tuple[Partner, str, str | None]:
        """A new partner; returns it with its bearer token and webhook secret (shown only now)."""
        if "webhook" in modes and not webhook_url:
            raise PartnerError("the webhook mode needs a webhook URL")
        check_subjects(filters)
        secret = new_webhook_secret() if webhook_url else None
        webhook = None
        if webhook_url and secret:
            webhook = Webhook(url=webhook_url, secrets=[WebhookSecret(secret=secret, created_at=now)])
        partner = Partner(name=name, modes=modes, filters=filters, webhook=webhook, created_at=now, updated_at=now)
        event = PartnerRegistered(event_id=str(uuid.uuid4()), occurred_at=now, actor=actor, partner=partner)
        async with self.redis.pipeline(transaction=True) as tx:
            await tx.watch(PARTNERS)
            if await tx.hexists(PARTNERS, name):  # type: ignore[misc]
                raise PartnerError(f"a partner named {name!r} exists")
            tx.multi()  # type: ignore[no-untyped-call]
            self._write(tx, event, partner)
            await tx.execute()
        token = await issue(self.redis, Role.PARTNER, name, replace=True)
        return partner, token, secret

    async def change(self, name: str, mutate: Callable[[Partner], Partner], *, actor: str, reason: str,
                     now: datetime) -> Partner:
        """Apply ``mutate`` to the partner's current state and record the result."""
        for _attempt in range(10):
            async with self.redis.pipeline(transaction=True) as tx:
                await tx.watch(PARTNERS)
                raw = await tx.hget(PARTNERS, name)  # type: ignore[misc]
                if raw is None:
                    raise PartnerNotFound(f"no partner named {name!r}")
                current = _partner.decode(raw)
                changed = msgspec.structs.replace(mutate(current), name=current.name, created_at=current.created_at,
                                                  updated_at=now)
                if changed.modes and "webhook" in changed.modes and changed.webhook is None:
                    raise PartnerError("the webhook mode needs a webhook URL")
                check_subjects(changed.filters, current.filters.subjects)
                event = PartnerChanged(event_id=str(uuid.uuid4()), occurred_at=now, actor=actor, partner=changed,
                                       reason=reason)
                tx.multi()  # type: ignore[no-untyped-call]
                self._write(tx, event, changed)
                try:
                    await tx.execute()
                except WatchError:
                    continue
                return changed
        raise PartnerError(f"partner {name!r} kept changing under us; try again")

    async def remove(self, name: str, *, actor: str, now: datetime) -> None:
        await self.require(name)
        event = PartnerRemoved(event_id=str(uuid.uuid4()), occurred_at=now, actor=actor, name=name)
        async with self.redis.pipeline(transaction=True) as tx:
            tx.xadd(REGISTRY_STREAM, {"type": "partner.removed.v1", "data": _event_encoder.encode(event)})
            tx.hdel(PARTNERS, name)
            await tx.execute()
        await revoke(self.redis, Role.PARTNER, name)

    async def rotate_secret(self, name: str, *, overlap: timedelta, actor: str, now: datetime) -> str:
        """A new webhook secret; the old ones keep signing until ``now + overlap``."""
        secret = new_webhook_secret()

        def rotate(partner: Partner) -> Partner:
            if partner.webhook is None:
                raise PartnerError(f"partner {name!r} has no webhook")
            kept = [s if s.expires_at else msgspec.structs.replace(s, expires_at=now + overlap)
                    for s in partner.webhook.secrets if s.expires_at is None or s.expires_at > now]
            secrets_now = [WebhookSecret(secret=secret, created_at=now), *kept]
            return msgspec.structs.replace(partner, webhook=msgspec.structs.replace(partner.webhook, secrets=secrets_now))

        await self.change(name, rotate, actor=actor, reason="webhook secret rotated", now=now)
        return secret

    async def disable_webhook(self, name: str, reason: str, *, now: datetime | None = None) -> Partner:
        def disable(partner: Partner) -> Partner:
            if partner.webhook is None:
                return partner
            return msgspec.structs.replace(partner, webhook=msgspec.structs.replace(
                partner.webhook, enabled=False, disabled_reason=reason))

        return await self.change(name, disable, actor="delivery", reason=reason, now=now or datetime.now(UTC))

    async def received_earlier(self, name: str, article_id: str) -> bool:
        return bool(await self.redis.sismember(sent_key(name), article_id))  # type: ignore[misc]

    async def record_sent(self, name: str, article_ids: list[str]) -> None:
        if article_ids:
            await self.redis.sadd(sent_key(name), *article_ids)  # type: ignore[misc]

    async def events(self) -> list[AnyPartnerEvent]:
        """The partner events on the registry stream, oldest first (for audits and replay)."""
        decoder = msgspec.json.Decoder(AnyPartnerEvent)
        rows = as_entries(await self.redis.xrange(REGISTRY_STREAM))
        return [decoder.decode(fields[b"data"]) for _, fields in rows
                if fields.get(b"type", b"").startswith(b"partner.")]

    @staticmethod
    def _write(tx: object, event: PartnerRegistered | PartnerChanged, partner: Partner) -> None:
        tag = event.__struct_config__.tag
        tx.xadd(REGISTRY_STREAM, {"type": str(tag), "data": _event_encoder.encode(event)})  # type: ignore[attr-defined]
        tx.hset(PARTNERS, partner.name, _event_encoder.encode(partner))  # type: ignore[attr-defined]


class PartnerDirectory:
    """The registry projection cached in this process, reloaded whenever the registry stream moves.

    Every live connection and pull request reads partners from here, so serving an item costs no
    registry round trip; a change (filters, pause, removal) takes effect within ``interval``.
    """

    def __init__(self, registry: PartnerRegistry, interval: float = 1.0) -> None:
        self.registry = registry
        self.interval = interval
        self._partners: dict[str, tuple[Partner, CompiledFilters]] = {}
        self._seen = ""
        self._background = Background()

    async def start(self) -> None:
        await self.refresh()
        self._background.start(self._watch())

    async def stop(self) -> None:
        await self._background.stop()

    def get(self, name: str) -> tuple[Partner, CompiledFilters] | None:
        return self._partners.get(name)

    async def refresh(self) -> None:
        last = as_entries(await self.registry.redis.xrevrange(REGISTRY_STREAM, count=1))
        seen = last[0][0] if last else ""
        if seen == self._seen and self._partners:
            return
        partners = await self.registry.all()
        self._partners = {p.name: (p, CompiledFilters.of(p.filters)) for p in partners}
        self._seen = seen

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.refresh()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("partners.refresh_failed", error=str(exc))
