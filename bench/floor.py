"""The floor: a bare redis-py asyncio loop doing the wire's stream operations per story, nothing else.

    python -m bench.floor --redis-url URL (--stories N | --rate R --seconds S) [--enrich]

One process, no framework, no HTTP, batches of 100: XADD filed; XREADGROUP + XADD enriched + XACK;
XREADGROUP + XADD published + XACK; a reader of published. Entries carry the wire's own event
fields at their real sizes (the filed event of a generated story). With ``--enrich`` the first
stage also runs the wire's enrichment of each batch (step by step, as its enrich worker does) and
indexes each story for related links, in the same single process. Prints one JSON line: throughput
(stories/s from the first XADD to the last read) and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bench.procs import percentile
from bench.stories import story_bytes
from schemas.codec import decode_event, encode_event
from schemas.events import ArticleEnriched
from services.ingest import core
from services.wire.loop import freeze_startup_objects, run_on_uvloop

PREFIX = "floor:{f}:"
FILED, ENRICHED, PUBLISHED = PREFIX + "filed", PREFIX + "enriched", PREFIX + "published"
BATCH = 100


def filed_fields(n: int) -> dict[Any, Any]:
    filing = core.decode_filing(story_bytes(n))
    filing = msgspec.structs.replace(filing, body=core.sanitise_html(filing.body))
    ids = core.FilingIds(article_id=f"urn:floor:{n}", event_id=str(uuid.uuid4()), correlation_id=str(uuid.uuid4()))
    return {"n": str(n).encode(), **encode_event(core.build_filed(filing, ids, editor="floor", now=datetime.now(UTC)))}


class Floor:
    def __init__(self, url: str, enrich: bool) -> None:
        self.url = url
        self.arrived: dict[int, float] = {}
        self.enricher = None
        if enrich:
            from services.enrich.core import new_enricher

            self.enricher = new_enricher()
        self.enriched_blob = b""

    async def setup(self) -> None:
        redis = Redis.from_url(self.url)
        await redis.delete(FILED, ENRICHED, PUBLISHED)
        for stream, group in ((FILED, "enrich"), (ENRICHED, "publish")):
            try:
                await redis.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        await redis.aclose()
        sample = decode_event(filed_fields(0))
        assert sample is not None
        enriched = ArticleEnriched(event_id=str(uuid.uuid4()), article_id=sample.article_id, version=1,
                                   occurred_at=datetime.now(UTC), correlation_id=sample.correlation_id,
                                   source_event_id=sample.event_id, source_entry_id="0-1", tags=[], subjects=[], related=[])
        self.enriched_blob = encode_event(enriched)["data"] + b" " * 600  # about the size of a tagged one

    async def stage(self, source: str, group: str, target: str, stop: asyncio.Event) -> None:
        redis = Redis.from_url(self.url)
        try:
            while not stop.is_set():
                reply: Any = await redis.xreadgroup(group, "floor", {source: ">"}, count=BATCH, block=100)
                if not reply:
                    continue
                entries = reply[0][1]
                enriched = self._enrich([fields for _, fields in entries]) if target == ENRICHED else []
                async with redis.pipeline(transaction=False) as pipe:
                    for i, (_entry_id, fields) in enumerate(entries):
                        if target == ENRICHED:
                            pipe.xadd(target, {"n": fields[b"n"], "type": b"article.enriched.v1", "data": enriched[i]})
                        else:  # the published entry carries the item: the body again, plus tags
                            pipe.xadd(target, {"n": fields[b"n"], "type": b"article.published.v1",
                                               "data": fields[b"data"]})
                    pipe.xack(source, group, *[entry_id for entry_id, _ in entries])
                    await pipe.execute()
        finally:
            await redis.aclose()

    def _enrich(self, batch: list[dict[bytes, bytes]]) -> list[bytes]:
        """The enriched data of a batch: the wire's enrichment of the whole batch, step by step, as its
        enrich worker does (``Enricher.enrich_many``), then each story indexed for related links."""
        if self.enricher is None:
            return [self.enriched_blob] * len(batch)
        events = [decode_event(fields) for fields in batch]
        now = datetime.now(UTC)
        found = self.enricher.enrich_many(events, now)  # type: ignore[arg-type]
        out = []
        for event, enrichment in zip(events, found, strict=True):
            assert event is not None and not isinstance(enrichment, Exception)
            # the archive the related links come from grows as the wire's does (the wire indexes what it publishes)
            self.enricher.index_article(event.article_id, event.headline, enrichment.lead,  # type: ignore[union-attr]
                                        [t.id for t in enrichment.tags], now)
            out.append(msgspec.json.encode(enrichment))
        return out

    async def reader(self, total: int) -> None:
        redis = Redis.from_url(self.url)
        last = "0-0"
        try:
            while len(self.arrived) < total:
                reply: Any = await redis.xread({PUBLISHED: last}, count=500, block=100)
                now = time.perf_counter()
                for _stream, entries in reply or []:
                    for entry_id, fields in entries:
                        last = entry_id
                        self.arrived[int(fields[b"n"])] = now
        finally:
            await redis.aclose()

    async def run(self, count: int, rate: float | None) -> dict[str, object]:
        await self.setup()
        payloads = [filed_fields(n) for n in range(min(count, 5000))]
        freeze_startup_objects()  # as the wire's services do once started (the enrichment's vocabulary)
        stop = asyncio.Event()
        stages = [asyncio.create_task(self.stage(FILED, "enrich", ENRICHED, stop)),
                  asyncio.create_task(self.stage(ENRICHED, "publish", PUBLISHED, stop))]
        reader = asyncio.create_task(self.reader(count))
        producer = Redis.from_url(self.url)
        await asyncio.sleep(0.2)
        scheduled: list[float] = []
        start = time.perf_counter()
        if rate is None:  # all at once, pipelined by BATCH
            for first in range(0, count, BATCH):
                async with producer.pipeline(transaction=False) as pipe:
                    for n in range(first, min(count, first + BATCH)):
                        scheduled.append(time.perf_counter())
                        pipe.xadd(FILED, {**payloads[n % len(payloads)], "n": str(n).encode()})
                    await pipe.execute()
        else:
            for n in range(count):
                due = start + n / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                scheduled.append(due)
                await producer.xadd(FILED, {**payloads[n % len(payloads)], "n": str(n).encode()})
        try:
            await asyncio.wait_for(reader, 120)
        finally:
            stop.set()
            await asyncio.gather(*stages)
            await producer.aclose()
        latencies = [(self.arrived[n] - scheduled[n]) * 1000 for n in range(count)]
        elapsed = max(self.arrived.values()) - start
        return {"stories": count, "throughput": count / elapsed, "p50": percentile(latencies, 0.5),
                "p95": percentile(latencies, 0.95), "p99": percentile(latencies, 0.99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--stories", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=None, help="a fixed rate (stories/s) instead of all at once")
    parser.add_argument("--seconds", type=float, default=15.0, help="with --rate: how long")
    parser.add_argument("--enrich", action="store_true", help="run the wire's enrichment in the first stage")
    args = parser.parse_args()
    count = args.stories if args.rate is None else max(1, int(args.rate * args.seconds))
    print(json.dumps(run_on_uvloop(Floor(args.redis_url, args.enrich).run(count, args.rate))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
