"""The enrich worker on a real server: a batch is enriched together, and one story that fails leaves
the others' enrichment as each would have had it alone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from bench.stories import filed_story
from schemas.codec import decode_event, encode_event
from schemas.events import ArticleContent, ArticleEnriched
from schemas.streams import Group, Stream, stream_key
from services.enrich.app import EnrichHandler
from services.enrich.core import Enricher, Enrichment, new_enricher
from services.enrich.topics import TopicRules
from services.wire.eventlog import EventLog, errors_key
from services.wire.settings import Settings
from services.wire.worker import StreamWorker

FILED = stream_key(Stream.FILED)
ENRICHED = stream_key(Stream.ENRICHED)


async def test_a_batch_is_enriched_together_and_a_failing_story_leaves_the_others_as_they_would_be(
        redis: Redis, redis_url: str) -> None:
    now = datetime.now(UTC)
    stories = [filed_story(n, 11, now, "desk") for n in range(8)]
    poison = stories[5].headline

    class Failing(TopicRules):
        def subjects(self, headline: str, body: str) -> list[Any]:
            if headline == poison:
                raise ValueError("no subjects for this one")
            return super().subjects(headline, body)

    seed = new_enricher()
    enricher = Enricher(seed.vocabulary, Failing(seed.topics.topics.values()), seed.index, seed.names)
    batches: list[int] = []
    enrich_many = enricher.enrich_many

    def counted(filed: Sequence[ArticleContent], at: datetime) -> list[Enrichment | Exception]:
        batches.append(len(filed))
        return enrich_many(filed, at)

    enricher.enrich_many = counted  # type: ignore[method-assign]
    settings = Settings(redis_url=redis_url, claim_idle_ms=60_000, consumer_name=f"test-{uuid.uuid4().hex[:6]}",
                        batch_size=10)
    eventlog = EventLog(redis, settings)
    entry_ids = [(await redis.xadd(FILED, encode_event(s))).decode() for s in stories]  # type: ignore[arg-type]
    worker = StreamWorker(eventlog, EnrichHandler(eventlog, enricher), settings)
    await worker.start()
    try:
        for _ in range(200):
            if await redis.xlen(ENRICHED) == 7 and await redis.hexists(errors_key(Group.ENRICH, 0), entry_ids[5]):
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()

    assert batches == [8]  # one batch, enriched together
    enriched = [decode_event(fields) for _, fields in await redis.xrange(ENRICHED)]
    assert all(isinstance(e, ArticleEnriched) for e in enriched)
    by_source = {e.source_entry_id: e for e in enriched if isinstance(e, ArticleEnriched)}
    assert sorted(by_source) == sorted(entry_ids[:5] + entry_ids[6:])
    alone = new_enricher()  # an enricher of its own, with the same (empty) archive
    for story, entry_id in zip(stories, entry_ids, strict=True):
        if story.headline == poison:
            continue
        expected = alone.enrich(story, now)
        got = by_source[entry_id]
        assert (got.tags, got.subjects, got.related) == (expected.tags, expected.subjects, expected.related)
    error = await redis.hget(errors_key(Group.ENRICH, 0), entry_ids[5])  # type: ignore[misc]
    assert error is not None and b"no subjects for this one" in error
    assert (await redis.xpending(FILED, Group.ENRICH.value))["pending"] == 1  # left for the claimer, as before
