"""The partner-facing live stream: Server-Sent Events over the published streams, resumable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from litestar.response import ServerSentEventMessage
from redis.asyncio import Redis

from schemas.codec import decode_event, encode_json
from schemas.events import ArticlePublished
from schemas.streams import Stream, stream_key
from services.publish.core import valid_event_id
from services.wire.eventlog import as_entries, as_streams

READ_COUNT = 100


@dataclass
class Cursor:
    """A position in every partition's published stream; its text is the SSE event id.

    With one partition the id is the Redis entry id itself (``1716900000000-0``); with more it
    is the entry ids joined by ``.``, one per partition in order.
    """

    positions: list[str]

    def __str__(self) -> str:
        return ".".join(self.positions)

    @classmethod
    def parse(cls, text: str, partitions: int) -> Cursor | None:
        parts = text.strip().split(".")
        if len(parts) != partitions or not all(valid_event_id(p) for p in parts):
            return None
        return cls(parts)


async def cursor_now(redis: Redis, partitions: int) -> Cursor:
    """The position of the newest entry of each partition (resolved once, never ``$`` in a loop)."""
    positions = []
    for partition in range(partitions):
        last = as_entries(await redis.xrevrange(stream_key(Stream.PUBLISHED, partition), count=1))
        positions.append(last[0][0] if last else "0-0")
    return Cursor(positions)


async def events(redis: Redis, cursor: Cursor, heartbeat_s: float) -> AsyncIterator[ServerSentEventMessage]:
    """Every published item after ``cursor``, in order, forever; a comment on each quiet interval."""
    keys = [stream_key(Stream.PUBLISHED, p) for p in range(len(cursor.positions))]
    block_ms = max(1, int(heartbeat_s * 1000))
    while True:
        positions: dict[Any, Any] = dict(zip(keys, cursor.positions, strict=True))
        reply = as_streams(await redis.xread(positions, count=READ_COUNT, block=block_ms))
        if not reply:
            yield ServerSentEventMessage(comment="heartbeat", data=None)
            continue
        rows: list[tuple[tuple[int, int], int, str, dict[bytes, bytes]]] = []
        for key, entries in reply:
            partition = keys.index(key)
            for entry_id, fields in entries:
                ms, _, seq = entry_id.partition("-")
                rows.append(((int(ms), int(seq)), partition, entry_id, fields))
        rows.sort(key=lambda row: (row[0], row[1]))
        for _, partition, entry_id, fields in rows:
            cursor.positions[partition] = entry_id
            event = decode_event(fields)
            if not isinstance(event, ArticlePublished):
                continue
            yield ServerSentEventMessage(id=str(cursor), event="ninjs", data=encode_json(event.item).decode())
