"""Operator actions on a partner's webhooks: redrive dead letters, replay from a time, read the log."""

from __future__ import annotations

import heapq
from datetime import datetime

from schemas.codec import decode_event
from schemas.events import ArticlePublished
from schemas.streams import Stream, stream_key
from services.publish.filters import CompiledFilters, ItemFacts, entitled, follows_earlier
from services.publish.partners import PartnerError, PartnerRegistry
from services.publish.webhooks.store import DeliveryRecord, WebhookStore
from services.wire.eventlog import StreamEntry, as_entries


async def redrive(store: WebhookStore, registry: PartnerRegistry, name: str) -> int:
    """Put every dead letter of ``name`` back at the end of its outbox; how many."""
    await registry.require(name)
    return await store.redrive(name)


async def _published_since(store: WebhookStore, partition: int, since: datetime) -> list[tuple[int, int, int, StreamEntry]]:
    key = stream_key(Stream.PUBLISHED, partition)
    start = f"{int(since.timestamp() * 1000)}-0"
    out: list[tuple[int, int, int, StreamEntry]] = []
    while True:
        rows = as_entries(await store.redis.xrange(key, start, "+", count=500))
        for entry_id, fields in rows:
            ms, seq = entry_id.split("-", 1)
            out.append((int(ms), int(seq), partition, (entry_id, fields)))
        if len(rows) < 500:
            return out
        start = "(" + rows[-1][0]


async def replay(store: WebhookStore, registry: PartnerRegistry, name: str, since: datetime, partitions: int) -> int:
    """Queue again every item published since ``since`` that ``name`` is entitled to now, in log order.

    Items keep their webhook-id, so a receiver that de-duplicates on it sees each item once; the
    replayed items go after whatever is already queued.
    """
    partner = await registry.require(name)
    if partner.webhook is None or "webhook" not in partner.modes:
        raise PartnerError(f"partner {name!r} does not receive webhooks")
    if since.tzinfo is None:
        raise ValueError("give the replay time with a time zone (e.g. 2025-01-31T12:00:00Z)")
    compiled = CompiledFilters.of(partner.filters)
    merged = heapq.merge(*[await _published_since(store, p, since) for p in range(partitions)])
    count = 0
    for _ms, _seq, partition, (entry_id, fields) in merged:
        event = decode_event(fields)
        if not isinstance(event, ArticlePublished):
            continue
        facts = ItemFacts.of(event.item)
        received = follows_earlier(facts) and await registry.received_earlier(name, event.article_id)
        if entitled(partner, compiled, facts, received_earlier=received):
            await store.append(name, entry_id, partition, event.article_id, event.version)
            count += 1
    return count


async def deliveries(store: WebhookStore, registry: PartnerRegistry, name: str, count: int) -> list[DeliveryRecord]:
    await registry.require(name)
    return await store.deliveries(name, count)
