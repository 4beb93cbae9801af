"""What ``nw:{p}:versions:<id>`` keeps of each version of an article, and how to read it back.

A version that reached partners is kept as a reference to its entry on the partition's published
stream (``@<entry id>``), where its ninjs item already is; so a delivered item is stored once, not
twice (it was a third of what a story adds to the server). A version that never reached partners
(held by an embargo, stale, built after a kill, a kill of an article never delivered) keeps its
item JSON, as there is no entry to point at. Publish's scripts write both forms
(``services/publish/articles.py``); values written as item JSON by older code read as they are.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

from redis.asyncio import Redis

from schemas.codec import decode_event, encode_json
from schemas.events import ArticlePublished
from schemas.streams import Stream, stream_key
from services.wire.eventlog import read_entries

REF_PREFIX = b"@"
K = TypeVar("K", bound=Hashable)


def version_ref(entry_id: str) -> bytes:
    """The value that stands for a version delivered as ``entry_id`` on the published stream."""
    return REF_PREFIX + entry_id.encode()


def ref_entry_id(raw: bytes) -> str | None:
    """The published entry id a stored value points at, or None if the value is the item itself."""
    return raw[len(REF_PREFIX):].decode() if raw.startswith(REF_PREFIX) else None


async def version_items(redis: Redis, partition: int, stored: Mapping[K, bytes]) -> dict[K, bytes]:
    """The item JSON of each stored value (by whatever key the caller gave it), the references read
    from the published stream in one round trip. A reference whose entry is no longer on the stream
    (or is not a published item) has no item, and its key is left out."""
    stream = stream_key(Stream.PUBLISHED, partition)
    refs = {key: entry_id for key, raw in stored.items() if (entry_id := ref_entry_id(raw)) is not None}
    found = await read_entries(redis, [(stream, entry_id) for entry_id in refs.values()])
    items: dict[K, bytes] = {}
    for key, raw in stored.items():
        if key not in refs:
            items[key] = raw
            continue
        fields = found.get((stream, refs[key]))
        event = decode_event(fields) if fields else None
        if isinstance(event, ArticlePublished):
            items[key] = encode_json(event.item)
    return items
