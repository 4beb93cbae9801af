"""Serving partners from the live tail: the SSE stream and the pull feed, both filtered per partner."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog

from services.publish.filters import entitled, follows_earlier
from services.publish.live import Cursor, LiveTail, Published, sse_frame
from services.publish.partners import PartnerDirectory, PartnerRegistry, sent_key
from services.wire.background import Background

READ_BATCH = 100
FEED_SCAN = 1000  # entries looked at per feed request, matching or not
CURSOR_PREFIX = "c1."
HEARTBEAT = b": heartbeat\n\n"
log = structlog.get_logger()


class PartnerGone(Exception):
    """The partner was removed or paused while connected."""


class SentLog:
    """Batches the "sent to partner" bookkeeping: one pipelined write per interval, not one per item.

    What is not yet flushed is still seen by :meth:`received_earlier` in this process.
    """

    def __init__(self, registry: PartnerRegistry, interval: float = 0.2) -> None:
        self.registry = registry
        self.interval = interval
        self._pending: dict[str, set[str]] = {}
        self._background = Background()

    def record(self, name: str, article_ids: list[str]) -> None:
        if article_ids:
            self._pending.setdefault(name, set()).update(article_ids)

    async def received_earlier(self, name: str, article_id: str) -> bool:
        if article_id in self._pending.get(name, ()):
            return True
        return await self.registry.received_earlier(name, article_id)

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            async with self.registry.redis.pipeline(transaction=False) as pipe:
                for name, ids in pending.items():
                    pipe.sadd(sent_key(name), *ids)
                await pipe.execute()
        except Exception:
            for name, ids in pending.items():  # keep them for the next try
                self._pending.setdefault(name, set()).update(ids)
            raise

    async def start(self) -> None:
        self._background.start(self._run())

    async def stop(self) -> None:
        await self._background.stop()
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception as exc:  # Redis away: keep the ids and try again
                log.warning("sent_log.flush_failed", error=str(exc))


@dataclass
class Serving:
    tail: LiveTail
    directory: PartnerDirectory
    sent: SentLog
    partitions: int

    async def select(self, name: str, batch: list[Published]) -> list[Published]:
        """The items of ``batch`` this partner gets, recorded as sent to it."""
        entry = self.directory.get(name)
        if entry is None or entry[0].status != "active":
            raise PartnerGone(name)
        partner, compiled = entry
        chosen = []
        for published in batch:
            facts = published.facts
            earlier = follows_earlier(facts) and await self.sent.received_earlier(name, facts.uri)
            if entitled(partner, compiled, facts, received_earlier=earlier):
                chosen.append(published)
        self.sent.record(name, [p.facts.uri for p in chosen])
        return chosen

    async def sse(self, name: str, cursor: Cursor, heartbeat_s: float) -> AsyncIterator[bytes]:
        """Every item for ``name`` after ``cursor`` as SSE bytes, forever; a comment on each quiet interval.

        Everything ready is written at once, and with one partition each event's bytes are shared
        by every connection, so a fan-out costs one write per connection, not an encode.
        """
        single = self.partitions == 1
        while True:
            seen = self.tail.version
            batch = await self.tail.after(cursor, READ_BATCH)
            if not batch:
                if not await self.tail.wait(seen, heartbeat_s):
                    yield HEARTBEAT
                continue
            chosen = {id(p) for p in await self.select(name, batch)}
            frames = []
            for published in batch:
                cursor.advance(published)
                if id(published) in chosen:
                    frames.append(published.frame if single else sse_frame(str(cursor), published.data))
            if frames:
                yield b"".join(frames)

    async def feed(self, name: str, cursor: Cursor, limit: int, wait_s: float) -> tuple[list[Published], Cursor]:
        """Up to ``limit`` items after ``cursor``; waits up to ``wait_s`` for the first one."""
        deadline = time.monotonic() + wait_s
        while True:
            seen = self.tail.version
            found: list[Published] = []
            scanned = 0
            while scanned < FEED_SCAN and len(found) < limit:
                batch = await self.tail.after(cursor, min(READ_BATCH, FEED_SCAN - scanned))
                if not batch:
                    break
                scanned += len(batch)
                chosen = {id(p) for p in await self.select(name, batch)}
                for published in batch:
                    cursor.advance(published)
                    if id(published) in chosen:
                        found.append(published)
                        if len(found) == limit:
                            break
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found, cursor
            await self.tail.wait(seen, remaining)


def encode_cursor(cursor: Cursor) -> str:
    """The feed's opaque cursor."""
    return CURSOR_PREFIX + base64.urlsafe_b64encode(str(cursor).encode()).decode().rstrip("=")


def decode_cursor(text: str, partitions: int) -> Cursor | None:
    if not text.startswith(CURSOR_PREFIX):
        return None
    body = text.removeprefix(CURSOR_PREFIX)
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return Cursor.parse(raw, partitions)


