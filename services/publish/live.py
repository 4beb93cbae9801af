"""One reader of the published streams per process, shared by every partner connection.

The tail keeps recent items in memory, in order, per partition. A connection whose position is
inside that window reads from memory; one further behind (a resume from long ago) reads the gap
from Redis. So 500 live partners cost one blocking ``XREAD``, not 500.
"""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from schemas.codec import decode_event, encode_json
from schemas.events import ArticlePublished
from schemas.streams import Stream, stream_key
from services.publish.core import valid_event_id
from services.publish.filters import ItemFacts
from services.wire.background import Background
from services.wire.eventlog import StreamEntry, StreamId, as_entries, as_streams, parse_id

log = structlog.get_logger()
MAX_SEQ = 18446744073709551615


def format_id(key: StreamId) -> str:
    return f"{key[0]}-{key[1]}"


def position_before(ms: int) -> str:
    """The position just before every entry written at or after ``ms`` (for ``since``)."""
    return "0-0" if ms <= 0 else f"{ms - 1}-{MAX_SEQ}"


class Published(msgspec.Struct, frozen=True, gc=False):
    """One item on the partner-facing stream, as the tail keeps it.

    Not tracked by the garbage collector, and nothing in it is (strings, ints, bytes, tuples of
    them): the tail keeps up to ``2 * keep`` of these per partition, and full collections that walked
    them and their decoded items paused the process for up to hundreds of ms under load
    (``python -m bench.gc_pause``). The item's JSON is kept once, inside its SSE event.
    """

    partition: int
    entry_id: str
    key: StreamId
    facts: ItemFacts  # what the partners' filters look at
    frame: bytes  # the whole SSE event when the cursor is this entry id alone (one partition)
    data_at: int  # where the ninjs JSON starts in ``frame`` (it ends before the closing blank line)

    @property
    def data(self) -> bytes:
        """The ninjs JSON, encoded once for every connection."""
        return self.frame[self.data_at : -2]


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

    @classmethod
    def before(cls, ms: int, partitions: int) -> Cursor:
        return cls([position_before(ms)] * partitions)

    def advance(self, published: Published) -> None:
        self.positions[published.partition] = published.entry_id


def to_published(partition: int, entry: StreamEntry) -> Published | None:
    entry_id, fields = entry
    event = decode_event(fields)
    if not isinstance(event, ArticlePublished):
        return None
    data = encode_json(event.item)
    frame = sse_frame(entry_id, data)
    return Published(partition, entry_id, parse_id(entry_id), ItemFacts.of(event.item), frame,
                     len(frame) - len(data) - 2)  # the JSON ends before the closing blank line


def sse_frame(event_id: str, data: bytes) -> bytes:
    """One Server-Sent Event ``ninjs`` (the JSON has no newlines, so it is one ``data`` line)."""
    return b"id: " + event_id.encode() + b"\nevent: ninjs\ndata: " + data + b"\n\n"


class _Window:
    """Recent items of one partition, and the position from which the window is complete."""

    def __init__(self, complete_after: str) -> None:
        self.complete_after = parse_id(complete_after)
        self.keys: list[StreamId] = []
        self.items: list[Published] = []

    def covers(self, position: str) -> bool:
        return parse_id(position) >= self.complete_after

    def after(self, position: str, limit: int) -> list[Published]:
        start = bisect.bisect_right(self.keys, parse_id(position))
        return self.items[start:start + limit]

    def append(self, published: Published, keep: int) -> None:
        self.keys.append(published.key)
        self.items.append(published)
        if len(self.items) > 2 * keep:
            drop = len(self.items) - keep
            self.complete_after = self.keys[drop - 1]
            del self.keys[:drop], self.items[:drop]


class LiveTail:
    def __init__(self, redis: Redis, partitions: int, *, keep: int = 10_000, block_ms: int = 1000) -> None:
        self.redis = redis
        self.partitions = partitions
        self.keep = keep
        self.block_ms = block_ms
        self.keys = [stream_key(Stream.PUBLISHED, p) for p in range(partitions)]
        self._windows: list[_Window] = []
        self._changed = asyncio.Condition()
        self.version = 0  # bumped on every batch of new items, so no wake-up is missed
        self._background = Background()

    async def start(self) -> None:
        now = await self.now()
        self._windows = [_Window(p) for p in now.positions]
        self._background.start(self._follow(now))

    async def stop(self) -> None:
        await self._background.stop()

    async def now(self) -> Cursor:
        """The position of the newest entry of each partition (resolved once, never ``$`` in a loop)."""
        positions = []
        for key in self.keys:
            last = as_entries(await self.redis.xrevrange(key, count=1))
            positions.append(last[0][0] if last else "0-0")
        return Cursor(positions)

    async def _follow(self, cursor: Cursor) -> None:
        while True:
            try:
                streams: dict[object, object] = dict(zip(self.keys, cursor.positions, strict=True))
                reply = as_streams(await self.redis.xread(streams, count=500, block=self.block_ms))  # type: ignore[arg-type]
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("live.read_failed", error=str(exc))
                await asyncio.sleep(1)
                continue
            if not reply:
                continue
            for key, entries in reply:
                partition = self.keys.index(key)
                for entry in entries:
                    cursor.positions[partition] = entry[0]
                    published = to_published(partition, entry)
                    if published is not None:
                        self._windows[partition].append(published, self.keep)
            async with self._changed:
                self.version += 1
                self._changed.notify_all()

    async def after(self, cursor: Cursor, limit: int = 100) -> list[Published]:
        """Up to ``limit`` items after ``cursor`` in wire order (memory when it can, else Redis).

        Entries that are not items are stepped over.
        """
        found: list[Published] = []
        for partition, position in enumerate(cursor.positions):
            window = self._windows[partition]
            if window.covers(position):
                found += window.after(position, limit)
                continue
            rows = as_entries(await self.redis.xrange(self.keys[partition], min="(" + position, count=limit))
            items = [p for p in (to_published(partition, entry) for entry in rows) if p is not None]
            if rows and not items:
                cursor.positions[partition] = rows[-1][0]
            found += items
        found.sort(key=lambda p: (p.key, p.partition))
        return found[:limit]

    async def wait(self, seen_version: int, within: float) -> bool:
        """Wait until items newer than ``seen_version`` arrive; False when ``within`` seconds pass first."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version != seen_version), within)
            except TimeoutError:
                return False
        return True
