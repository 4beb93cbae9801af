"""Replay speed: rebuild the projections of a log of a million events.

    python -m bench.replay [--events 1000000] [--partitions 1] [--batch 2000]

Starts a throwaway Redis server (AOF, ``appendfsync everysec``), writes a synthetic log with
pipelined XADDs of encoded events (articles filed, updated, corrected, re-embargoed and some
killed, several versions each, and one published entry per article) together with the live
projections ingest and publish would have written (article state and history), then runs
``services.wire.replay.replay`` and prints the fold rate (reading, folding and writing the fresh
keys), the overall rate including the comparison, whether the comparison was clean, and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis.asyncio import Redis

from bench.latency import machine
from schemas.codec import encode_event
from schemas.events import (
    AnyEvent,
    ArticleCorrected,
    ArticleFiled,
    ArticleKilled,
    ArticlePublished,
    ArticleUpdated,
    EmbargoChanged,
)
from schemas.ninjs import NinjsItem
from schemas.streams import Stream, article_key, history_key, item_key, partition_of, stream_key, versions_key
from services.wire.redis_server import RedisServer
from services.wire.replay import fold_articles, fold_publish, replay
from services.wire.settings import Settings

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
BODY = "<p>" + "The council met on Tuesday and agreed the budget after a long debate. " * 8 + "</p>"


def article_events(rng: random.Random, n: int) -> list[AnyEvent]:
    """One article's life: filed, then 2-6 more versions; the last one is sometimes a kill."""
    article = f"urn:newswire:article:{uuid.UUID(int=rng.getrandbits(128))}"

    def common(version: int) -> dict[str, object]:
        return {"event_id": str(uuid.UUID(int=rng.getrandbits(128))), "article_id": article, "version": version,
                "occurred_at": NOW + timedelta(seconds=n), "correlation_id": "bench"}

    embargo = NOW + timedelta(hours=2) if n % 4 == 0 else None
    text = {"headline": f"Budget agreed, item {n}", "body_html": BODY, "byline": "Bench desk", "urgency": 4}
    events: list[AnyEvent] = [ArticleFiled(**common(1), **text, embargoed_until=embargo)]  # type: ignore[arg-type]
    for version in range(2, 2 + rng.randint(2, 6)):
        roll = rng.random()
        if roll < 0.45:
            events.append(ArticleUpdated(**common(version), **text, embargoed_until=embargo))  # type: ignore[arg-type]
        elif roll < 0.75:
            events.append(ArticleCorrected(**common(version), **text, embargoed_until=embargo,  # type: ignore[arg-type]
                                           correction_note="a name was misspelt"))
        elif roll < 0.95:
            embargo = None if embargo else NOW + timedelta(hours=1)
            events.append(EmbargoChanged(**common(version), embargoed_until=embargo))  # type: ignore[arg-type]
        else:
            events.append(ArticleKilled(**common(version), reason="duplicate", category="duplicate"))  # type: ignore[arg-type]
            break
    return events


def published(event: AnyEvent) -> ArticlePublished:
    item = NinjsItem(uri=event.article_id, type="text", pub_status="usable", version=str(event.version),
                     headlines=[])
    return ArticlePublished(event_id=str(uuid.uuid4()), article_id=event.article_id, version=event.version,
                            occurred_at=event.occurred_at, correlation_id="bench", source_event_id="bench", item=item)


async def build_log(redis: Redis, target: int, partitions: int) -> int:
    """Append at least ``target`` entries and the live projections; returns the number appended."""
    rng = random.Random(1)
    appended, n = 0, 0
    while appended < target:
        chunk: list[tuple[str, str, dict[str, bytes]]] = []  # stream, article, fields
        states: dict[str, dict[str, str]] = {}
        for _ in range(2000):
            events = article_events(rng, n)
            n += 1
            partition = partition_of(events[0].article_id, partitions)
            filed, out = stream_key(Stream.FILED, partition), stream_key(Stream.PUBLISHED, partition)
            for i, event in enumerate(events):
                chunk.append((filed, event.article_id, encode_event(event)))
                if i == 1:
                    chunk.append((out, event.article_id, encode_event(published(event))))
            fold_articles(events, states)
        async with redis.pipeline(transaction=False) as pipe:
            for stream, _, fields in chunk:
                pipe.xadd(stream, fields)  # type: ignore[arg-type]
            ids = await pipe.execute()
        async with redis.pipeline(transaction=False) as pipe:
            for (stream, article, _), entry_id in zip(chunk, ids, strict=True):
                partition = partition_of(article, partitions)
                pipe.rpush(history_key(article, partition), f"{stream} {entry_id.decode()}")
            for article, state in states.items():
                pipe.hset(article_key(article, partition_of(article, partitions)), mapping=state)  # type: ignore[arg-type]
            for partition in range(partitions):  # publish's projection, as its scripts would have left it
                entries = [(stream, entry_id.decode(), {k.encode(): v for k, v in fields.items()})
                           for (stream, article, fields), entry_id
                           in zip(chunk, ids, strict=True) if partition_of(article, partitions) == partition]
                changes = fold_publish(entries, filed=stream_key(Stream.FILED, partition),
                                       published=stream_key(Stream.PUBLISHED, partition),
                                       enriched=stream_key(Stream.ENRICHED, partition))
                for article, fields_set in changes.items.items():
                    pipe.hset(item_key(article, partition), mapping=fields_set)  # type: ignore[arg-type]
                for article in set(changes.versions) | set(changes.versions_nx):
                    versions = {**changes.versions_nx.get(article, {}), **changes.versions.get(article, {})}
                    pipe.hset(versions_key(article, partition), mapping=versions)  # type: ignore[arg-type]
            await pipe.execute()
        appended += len(chunk)
        print(f"\rbuilding the log: {appended}/{target}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return appended


async def run(url: str, events: int, partitions: int, batch: int) -> int:
    redis = Redis.from_url(url)
    settings = Settings(redis_url=url, partitions=partitions)
    try:
        started = time.perf_counter()
        appended = await build_log(redis, events, partitions)
        built = time.perf_counter() - started
        info = await redis.info("memory")
        folded: list[float] = []
        begun = time.perf_counter()

        def progress(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - begun, 1e-9)
            print(f"\rreplay: {done}/{total} entries, {rate:,.0f} events/s", end="", file=sys.stderr, flush=True)
            if done >= total and not folded:
                folded.append(time.perf_counter() - begun)

        report = await replay(redis, settings, progress=progress, switch=False, batch=batch)
        print(file=sys.stderr)
        fold_seconds = folded[0] if folded else report.seconds
        print(f"machine: {machine()}")
        print(f"log: {appended:,} entries ({partitions} partition(s)), built in {built:.1f} s, "
              f"server memory {info['used_memory_human']}")
        print(f"replay: {report.events:,} events folded into fresh keys in {fold_seconds:.1f} s = "
              f"{report.events / fold_seconds:,.0f} events/s")
        print(f"        with the comparison of {report.keys:,} keys: {report.seconds:.1f} s = "
              f"{report.rate:,.0f} events/s; differences: {report.difference_count}")
        for difference in report.differences[:3]:
            print(f"        e.g. {difference}")
        return 0 if report.difference_count == 0 and report.events == appended else 1
    finally:
        await redis.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis", appendfsync="everysec") as server:
        return asyncio.run(run(server.url, args.events, args.partitions, args.batch))


if __name__ == "__main__":
    sys.exit(main())
