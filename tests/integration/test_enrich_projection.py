"""The enrich worker's derived state on a real server: the related index and the vocabulary are
projections of the log, so a worker rebuilt by replaying it enriches exactly as the live one does."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
from redis.asyncio import Redis

from schemas.codec import encode_event
from schemas.events import ArticleEnriched, ArticleFiled, ArticlePublished
from schemas.streams import Stream, stream_key
from schemas.vocabulary import VocabAliasAdded, VocabEntryAdded, VocabEntryRetired
from services.enrich.app import IDLE_COUNT, ArchiveProjection, EnrichHandler
from services.enrich.core import Enricher, Enrichment, new_enricher
from services.enrich.vocab_store import VocabProjection, append_event
from services.publish.core import build_item
from services.wire.eventlog import EventLog
from services.wire.settings import Settings

PUBLISHED = stream_key(Stream.PUBLISHED)
T0 = datetime(2026, 4, 1, 8, tzinfo=UTC)

STORIES = [
    ("Russia pulls troops out of Belarus", "Russia has withdrawn most of its troops from Belarus, Ukraine's border "
     "guard service said. Wagner Group fighters remain at a camp near Asipovichy."),
    ("Storm closes Aberdeen harbour", "The harbour in Aberdeen was closed on Monday as a storm brought waves of "
     "eight metres to the coast of Scotland. Ferries to Shetland were cancelled."),
    ("Wagner fighters settle in Belarus", "Fighters of the Wagner Group moved to a camp in Belarus after the mutiny "
     "led by Yevgeny Prigozhin against the Russian army command."),
    ("Ukraine watches Belarus border", "Ukraine's State Border Guard Service said Russian troops in Belarus were "
     "fewer than at any time this year, and Wagner mercenaries were near Asipovichy."),
    ("Aberdeen harbour reopens after storm", "Ferries to Shetland sailed again as the harbour in Aberdeen reopened "
     "after the storm that closed the Scottish coast."),
    ("Prigozhin's men leave Belarus camp", "Some Wagner Group mercenaries loyal to Yevgeny Prigozhin left the camp "
     "in Belarus, Ukraine's border guards said."),
]
QUERIES = [
    ("Belarus says Wagner camp will stay", "Minsk said the Wagner Group camp in Belarus would stay, as Ukraine's "
     "border guards reported fewer Russian troops."),
    ("Shetland ferries delayed by storm", "Ferries to Shetland from the harbour in Aberdeen were delayed by a "
     "storm on the coast of Scotland."),
    ("Violinist wins chamber music prize", "A violinist from Vienna won an international chamber music prize for "
     "a recording of Schubert quartets."),
]


def _filed(n: int, headline: str, body: str, version: int = 1, article: str | None = None) -> ArticleFiled:
    return ArticleFiled(
        event_id=str(uuid.uuid4()), article_id=article or f"urn:newswire:article:{n}", version=version,
        occurred_at=T0 + timedelta(hours=n), correlation_id="test", headline=headline, body_html=f"<p>{body}</p>",
    )


async def _publish(redis: Redis, filed: ArticleFiled, result: Enrichment, status: str = "usable") -> None:
    enriched = ArticleEnriched(
        event_id=str(uuid.uuid4()), article_id=filed.article_id, version=filed.version, occurred_at=filed.occurred_at,
        correlation_id="test", source_event_id=filed.event_id, source_entry_id="0-1",
        tags=result.tags, subjects=result.subjects, related=result.related,
    )
    item = msgspec.structs.replace(build_item(filed, enriched), pub_status=status)  # type: ignore[arg-type]
    published = ArticlePublished(
        event_id=str(uuid.uuid4()), article_id=filed.article_id, version=filed.version, occurred_at=filed.occurred_at,
        correlation_id="test", source_event_id=enriched.event_id, item=item,
    )
    await redis.xadd(PUBLISHED, encode_event(published))  # type: ignore[arg-type]


async def _caught_up(redis: Redis, enricher: Enricher) -> tuple[VocabProjection, ArchiveProjection]:
    vocab, archive = VocabProjection(redis, enricher.vocabulary), ArchiveProjection(redis, enricher, 1)
    await vocab.catch_up()
    await archive.catch_up()
    return vocab, archive


async def test_an_index_rebuilt_from_the_log_links_like_the_live_one(redis: Redis) -> None:
    live = new_enricher()
    vocab, archive = await _caught_up(redis, live)
    at = datetime.now(UTC)
    for n, (headline, body) in enumerate(STORIES):
        if n == 2:  # editors teach the vocabulary while the wire runs
            await append_event(redis, VocabEntryAdded(event_id="v1", entry_id="newswire:organisation:wagner-group",
                                                      occurred_at=at, name="Wagner Group", entity_type="organisation"))
            await append_event(redis, VocabAliasAdded(event_id="v2", entry_id="newswire:organisation:wagner-group",
                                                      occurred_at=at, alias="Wagner"))
            await append_event(redis, VocabEntryRetired(event_id="v3", entry_id="geonames:2657832", occurred_at=at))
        await vocab.catch_up()  # what EnrichHandler.before_batch does
        await archive.catch_up()
        filed = _filed(n, headline, body)
        await _publish(redis, filed, live.enrich(filed, filed.occurred_at))
    # A new version of story 0 replaces it; story 3 is killed.
    v2 = _filed(6, STORIES[0][0] + ", border guards say", STORIES[0][1], version=2, article="urn:newswire:article:0")
    await _publish(redis, v2, live.enrich(v2, v2.occurred_at))
    killed = _filed(7, *STORIES[3], version=2, article="urn:newswire:article:3")
    await _publish(redis, killed, live.enrich(killed, killed.occurred_at), status="canceled")
    await vocab.catch_up()
    await archive.catch_up()

    rebuilt = new_enricher()
    await _caught_up(redis, rebuilt)

    assert rebuilt.vocabulary.revision == live.vocabulary.revision == 3
    assert len(rebuilt.index) == len(live.index) == 5
    now = T0 + timedelta(days=1)
    for n, (headline, body) in enumerate(QUERIES, start=100):
        query = _filed(n, headline, body)
        assert rebuilt.enrich(query, now) == live.enrich(query, now)
    belarus, storm, music = (live.enrich(_filed(n, h, b), now) for n, (h, b) in enumerate(QUERIES, start=100))
    linked = [link.article_id for link in belarus.related]
    assert "urn:newswire:article:3" not in linked  # killed
    assert {"urn:newswire:article:0", "urn:newswire:article:2", "urn:newswire:article:5"} <= set(linked)
    assert [link.article_id for link in storm.related][:2] in (
        ["urn:newswire:article:1", "urn:newswire:article:4"], ["urn:newswire:article:4", "urn:newswire:article:1"])
    assert music.related == []  # nothing in the archive is about this
    tag = next(t for t in belarus.tags if t.id == "newswire:organisation:wagner-group")
    assert tag.creator == "newswire-vocab/1@3"


async def test_a_vocabulary_event_reaches_a_running_worker_before_its_next_batch(redis: Redis) -> None:
    worker = new_enricher()
    vocab, _ = await _caught_up(redis, worker)
    text = "Olena Marchuk spoke for Orion, the drone maker."
    before, _ = worker.entities("Drones", text)
    assert "newswire:organisation:orion" not in [t.id for t in before]
    await append_event(redis, VocabEntryAdded(event_id="v1", entry_id="newswire:organisation:orion",
                                              occurred_at=datetime.now(UTC), name="Orion", entity_type="organisation"))
    assert await vocab.catch_up() == 1
    after, _ = worker.entities("Drones", text)
    orion = next(t for t in after if t.id == "newswire:organisation:orion")
    assert (orion.type, orion.creator) == ("organisation", "newswire-vocab/1@1")
    assert await vocab.catch_up() == 0  # nothing applied twice


async def test_overlapping_reads_of_the_archive_index_each_item_once_and_never_move_back(redis: Redis) -> None:
    enricher = new_enricher()
    archive = ArchiveProjection(redis, enricher, 1)
    first = [_filed(n, headline, body) for n, (headline, body) in enumerate(STORIES[:3])]
    for filed in first:
        await _publish(redis, filed, enricher.enrich(filed, T0))
    older = await archive.read()  # a batch's read, say, still on its way back
    later = [_filed(n + 3, headline, body) for n, (headline, body) in enumerate(STORIES[3:])]
    for filed in later:
        await _publish(redis, filed, enricher.enrich(filed, T0))
    newer = await archive.read()  # the idle read, from the same position, answered first
    assert archive.apply_read(newer) == (6, False)
    position = archive.positions[PUBLISHED]
    assert archive.apply_read(older) == (0, False)  # all of it was in the newer read
    assert archive.positions[PUBLISHED] == position
    assert archive.applied == 6 and len(enricher.index) == 6
    assert await archive.catch_up() == 0


async def test_an_enrich_process_with_no_batch_indexes_what_is_published(redis: Redis, redis_url: str) -> None:
    enricher = new_enricher()
    handler = EnrichHandler(EventLog(redis, Settings(redis_url=redis_url)), enricher)
    idle = asyncio.create_task(handler.in_background())
    try:
        # more than one idle read's worth: the reads that come back full are followed at once
        published = [_filed(n, f"{STORIES[n % len(STORIES)][0]} ({n})", STORIES[n % len(STORIES)][1])
                     for n in range(IDLE_COUNT + 20)]
        for filed in published:
            await _publish(redis, filed, enricher.enrich(filed, T0))
        for _ in range(100):
            if handler.archive.applied == len(published):
                break
            await asyncio.sleep(0.05)
        assert handler.archive.applied == len(published)
        assert all(f.article_id in enricher.index for f in published)
        assert handler.batches == 0  # no batch came: the idle reads did it
        # and a batch then finds nothing left to index
        await handler.before_batch(0)
        assert handler.archive.applied == len(published)
    finally:
        idle.cancel()
        await asyncio.gather(idle, return_exceptions=True)
