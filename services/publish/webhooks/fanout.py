"""The fan-out: each published item into the outbox of every webhook partner entitled to it, once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import structlog

from schemas.events import AnyEvent, ArticlePublished
from schemas.partners import Filters, Partner
from schemas.streams import Group, Stream, stream_key
from services.publish.filters import CompiledFilters, ItemFacts, entitled, follows_earlier
from services.publish.partners import PartnerRegistry
from services.publish.webhooks.store import WebhookStore
from services.wire.eventlog import as_text, parse_id
from services.wire.worker import Call, NoReads

log = structlog.get_logger()

ENQUEUED = "webhook.enqueued"


class OutOfOrder(RuntimeError):
    """An earlier published entry is still being fanned out elsewhere."""


def wants_webhooks(partner: Partner) -> bool:
    """A partner whose webhook queue fills (even while paused or disabled its queue is kept)."""
    return "webhook" in partner.modes and partner.webhook is not None


class FanoutHandler(NoReads):
    """A :class:`services.wire.worker.Handler` for the webhooks group over the published stream.

    Each partner's outbox write is a script in that partner's slot that checks the partner's record of
    published ids already enqueued, so a redelivered entry never queues an item twice. The handler
    returns no call: the worker acks the published entry once every outbox holds the item.

    A partner receives items published after it was registered; earlier ones come by replay.
    """

    group = Group.WEBHOOKS
    defer_idle_acks = False  # another publish process reads this group's pending entries to keep order
    linger_s = 0.01  # webhook items wait up to 10 ms more; a busy stream is fanned out in batches
    input = Stream.PUBLISHED

    def __init__(self, registry: PartnerRegistry, store: WebhookStore, *,
                 on_partners: Callable[[Sequence[Partner]], None], on_enqueued: Callable[[str], None],
                 order_wait_s: float = 2.0) -> None:
        self.registry = registry
        self.store = store
        self.order_wait_s = order_wait_s
        self._handled: dict[str, None] = {}  # entries this process has fanned out (insertion-ordered, capped)
        self.on_partners = on_partners
        self.on_enqueued = on_enqueued
        self.partners: list[Partner] = []
        self._compiled: dict[str, tuple[Filters, CompiledFilters]] = {}

    async def before_batch(self, partition: int) -> None:
        self.partners = [p for p in await self.registry.all() if wants_webhooks(p)]
        self.on_partners(self.partners)

    def compiled(self, partner: Partner) -> CompiledFilters:
        cached = self._compiled.get(partner.name)
        if cached is None or cached[0] != partner.filters:
            cached = (partner.filters, CompiledFilters.of(partner.filters))
            self._compiled[partner.name] = cached
        return cached[1]

    async def targets(self, event: ArticlePublished, partners: Sequence[Partner]) -> list[str]:
        names: list[str] = []
        facts = ItemFacts.of(event.item)
        follow_up = follows_earlier(facts)
        for partner in partners:
            received = follow_up and await self.registry.received_earlier(partner.name, event.article_id)
            if entitled(partner, self.compiled(partner), facts, received_earlier=received):
                names.append(partner.name)
        return names

    async def wait_for_earlier(self, entry_id: str, partition: int) -> None:
        """Hold an entry back until every earlier published entry has been fanned out.

        Two publish processes read different batches of the group; without this, a later version could
        reach a partner's outbox before the earlier one. An earlier entry still pending elsewhere after
        ``order_wait_s`` fails this one: it stays pending and is claimed (in order) later.
        """
        stream = stream_key(self.input, partition)
        deadline = time.monotonic() + self.order_wait_s
        while True:
            rows = await self.store.redis.xpending_range(stream, self.group.value, "-", "(" + entry_id, 1000)
            waiting = [as_text(r["message_id"]) for r in rows if as_text(r["message_id"]) not in self._handled]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise OutOfOrder(f"earlier published entry {waiting[0]} is not fanned out yet")
            await asyncio.sleep(0.01)

    def _done(self, entry_id: str) -> None:
        self._handled[entry_id] = None
        while len(self._handled) > 10_000:
            del self._handled[next(iter(self._handled))]

    async def handle(self, event: AnyEvent, entry_id: str, partition: int) -> Call | None:
        published_ms = parse_id(entry_id)[0]
        joined = [p for p in self.partners if published_ms >= int(p.created_at.timestamp() * 1000)]
        if not joined or not isinstance(event, ArticlePublished):  # no outbox to write, so no order to keep
            self._done(entry_id)
            return None
        await self.wait_for_earlier(entry_id, partition)
        names = await self.targets(event, joined)
        new_ids = await self.store.enqueue_once(names, partition, entry_id, event.article_id, event.version)
        for name, new_id in zip(names, new_ids, strict=True):
            if new_id is not None:
                self.on_enqueued(name)
        self._done(entry_id)
        log.debug(ENQUEUED, entry_id=entry_id, partners=len(names))
        return None
