"""Reading and appending vocabulary events on ``nw:{vocab}:events`` (the adapter side of ``vocab_events``)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from schemas.streams import vocab_key
from schemas.vocabulary import AnyVocabEvent, decode_vocab_event, encode_vocab_event
from services.enrich.vocab_events import check, evolve
from services.enrich.vocabulary import Vocabulary
from services.wire.eventlog import as_entries

VOCAB_STREAM = vocab_key("events")
READ_COUNT = 1000


async def read_events(redis: Redis, after: str = "0-0") -> list[tuple[str, AnyVocabEvent | None]]:
    """Vocabulary entries after the stream position ``after``: (entry id, event or None if unknown)."""
    out: list[tuple[str, AnyVocabEvent | None]] = []
    position = after
    while True:
        rows = as_entries(await redis.xrange(VOCAB_STREAM, min=f"({position}", count=READ_COUNT))
        if not rows:
            return out
        for entry_id, fields in rows:
            out.append((entry_id, decode_vocab_event(fields)))
            position = entry_id


async def append_event(redis: Redis, event: AnyVocabEvent) -> str:
    """Append one event; returns its entry id."""
    entry_id = await redis.xadd(VOCAB_STREAM, encode_vocab_event(event))  # type: ignore[arg-type]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


class VocabProjection:
    """Keeps a vocabulary in step with the vocabulary stream (catch up before each batch)."""

    def __init__(self, redis: Redis, vocabulary: Vocabulary) -> None:
        self.redis = redis
        self.vocabulary = vocabulary
        self.position = "0-0"
        self.problems: list[tuple[str, str]] = []  # (entry id, why it was a no-op), for the adapter to log

    async def catch_up(self) -> int:
        """Apply every vocabulary event not yet applied; returns how many were applied."""
        return self.apply(await read_events(self.redis, self.position))

    def read_next(self, pipe: Pipeline) -> None:
        """Queue the read of the next entries on ``pipe`` (for ``apply_read``), to share a round trip."""
        pipe.xrange(VOCAB_STREAM, min=f"({self.position}", count=READ_COUNT)

    async def apply_read(self, reply: Any) -> int:
        """Apply what ``read_next`` read, and whatever came after it; returns how many were applied."""
        rows = as_entries(reply)
        applied = self.apply([(entry_id, decode_vocab_event(fields)) for entry_id, fields in rows])
        if len(rows) == READ_COUNT:  # a full read: there may be more
            applied += await self.catch_up()
        return applied

    def apply(self, events: list[tuple[str, AnyVocabEvent | None]]) -> int:
        applied = 0
        for entry_id, event in events:
            self.position = entry_id
            if event is None:
                continue
            problem = evolve(self.vocabulary, event)
            if problem is not None:
                self.problems.append((entry_id, problem))
            applied += 1
        return applied


async def append_checked(redis: Redis, vocabulary: Vocabulary, event: AnyVocabEvent) -> str:
    """Append ``event`` if it applies to ``vocabulary`` (caught up by the caller); raises ``ValueError``."""
    problem = check(vocabulary, event)
    if problem is not None:
        raise ValueError(problem)
    return await append_event(redis, event)
