"""The body a webhook posts for a published item, read back from the log (and cached briefly)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

import msgspec
from redis.asyncio import Redis

from schemas.codec import decode_event
from schemas.events import ArticlePublished
from schemas.ninjs import NinjsItem
from schemas.streams import Stream, stream_key
from services.wire.eventlog import as_entries


class WebhookPayload(msgspec.Struct, frozen=True, kw_only=True):
    """Standard Webhooks' suggested envelope: ``type``, ``timestamp`` and the ninjs item as ``data``."""

    type: str
    timestamp: datetime
    data: NinjsItem


_encoder = msgspec.json.Encoder()


class ItemGone(LookupError):
    """The published entry an outbox item points at is no longer on the log."""


def payload_body(event: ArticlePublished) -> bytes:
    tag = str(event.__struct_config__.tag).removesuffix(".v1")
    return _encoder.encode(WebhookPayload(type=tag, timestamp=event.occurred_at, data=event.item))


class Bodies:
    """Bodies by published entry; many partners posting the same item read the log once."""

    def __init__(self, redis: Redis, size: int = 1024) -> None:
        self.redis = redis
        self.size = size
        self._cache: OrderedDict[tuple[int, str], bytes] = OrderedDict()

    async def get(self, partition: int, published_id: str) -> bytes:
        key = (partition, published_id)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        rows = as_entries(await self.redis.xrange(stream_key(Stream.PUBLISHED, partition), published_id,
                                                  published_id, count=1))
        event = decode_event(rows[0][1]) if rows else None
        if not isinstance(event, ArticlePublished):
            raise ItemGone(f"published entry {published_id} (partition {partition}) is not on the log")
        body = payload_body(event)
        self._cache[key] = body
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return body
