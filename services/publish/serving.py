"""Serving partners from the live tail: the SSE stream and the pull feed, both filtered per partner."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from litestar.response import ServerSentEventMessage

from services.publish.filters import entitled, follows_earlier
from services.publish.live import Cursor, LiveTail, Published
from services.publish.partners import PartnerDirectory, PartnerRegistry

READ_BATCH = 100
FEED_SCAN = 1000  # entries looked at per feed request, matching or not
CURSOR_PREFIX = "c1."


class PartnerGone(Exception):
    """The partner was removed or paused while connected."""


@dataclass
class Serving:
    tail: LiveTail
    directory: PartnerDirectory
    registry: PartnerRegistry
    partitions: int

    async def select(self, name: str, batch: list[Published]) -> list[Published]:
        """The items of ``batch`` this partner gets, recorded as sent to it."""
        entry = self.directory.get(name)
        if entry is None or entry[0].status != "active":
            raise PartnerGone(name)
        partner, compiled = entry
        chosen = []
        for published in batch:
            earlier = follows_earlier(published.item) and await self.registry.received_earlier(name, published.item.uri)
            if entitled(partner, compiled, published.item, received_earlier=earlier):
                chosen.append(published)
        await self.registry.record_sent(name, [p.item.uri for p in chosen])
        return chosen

    async def sse(self, name: str, cursor: Cursor, heartbeat_s: float) -> AsyncIterator[ServerSentEventMessage]:
        """Every item for ``name`` after ``cursor``, forever; a comment line on each quiet interval."""
        while True:
            seen = self.tail.version
            batch = await self.tail.after(cursor, READ_BATCH)
            if not batch:
                if not await self.tail.wait(seen, heartbeat_s):
                    yield ServerSentEventMessage(comment="heartbeat", data=None)
                continue
            chosen = {id(p) for p in await self.select(name, batch)}
            for published in batch:
                cursor.advance(published)
                if id(published) in chosen:
                    yield ServerSentEventMessage(id=str(cursor), event="ninjs", data=published.data)

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


