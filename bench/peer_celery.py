"""The peer: the same three steps as a Celery 5 chain, as a conventional Python team would build them.

    celery -A bench.peer_celery worker --pool prefork --concurrency 2      # the workers
    python -m bench.peer_celery (--stories N | --rate R --seconds S)   # the load

``ingest`` validates and sanitises the story and builds the filed event (the wire's ingest core),
``enrich`` runs the wire's own enrichment function (``services.enrich.core.Enricher``, indexing each
article for related links as the wire does), ``publish`` builds the ninjs item (the wire's publish
core) and appends it to a stream that the measuring side reads. Broker on the same Redis server as
the wire (its own db number, from ``NEWSWIRE_BENCH_CELERY_BROKER``); results are not stored, the
chain passes each step's output to the next. Prints one JSON line like ``bench.floor``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Any

import msgspec
from celery import Celery, chain
from celery.signals import worker_process_init
from redis import Redis

from bench.procs import percentile
from bench.stories import story_bytes
from schemas.events import ArticleEnriched, ArticleFiled
from services.enrich.core import Enricher, new_enricher
from services.ingest import core as ingest_core
from services.publish import core as publish_core
from services.wire.loop import freeze_startup_objects

BROKER = os.environ.get("NEWSWIRE_BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/1")
OUTPUT = "peer:published"

app = Celery("peer", broker=BROKER)
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                task_serializer="json", accept_content=["json"])


@cache
def enricher() -> Enricher:
    return new_enricher()


@cache
def output() -> Redis:
    return Redis.from_url(BROKER)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _load(**_kwargs: Any) -> None:
    enricher()  # each worker process loads the vocabulary once, before the first task


@app.task(name="peer.ingest")  # type: ignore[untyped-decorator]
def ingest(body: str, n: int) -> dict[str, Any]:
    filing = ingest_core.decode_filing(body.encode())
    now = datetime.now(UTC)
    ingest_core.check_filing(filing, max_body_bytes=512 * 1024, now=now)
    filing = msgspec.structs.replace(filing, body=ingest_core.sanitise_html(filing.body))
    ids = ingest_core.FilingIds(article_id=f"urn:peer:{n}", event_id=str(uuid.uuid4()), correlation_id=str(uuid.uuid4()))
    filed = ingest_core.build_filed(filing, ids, editor="peer", now=now)
    return {"n": n, "filed": msgspec.to_builtins(filed)}


@app.task(name="peer.enrich")  # type: ignore[untyped-decorator]
def enrich(message: dict[str, Any]) -> dict[str, Any]:
    filed = msgspec.convert(message["filed"], ArticleFiled, strict=False)
    now = datetime.now(UTC)
    found = enricher().enrich(filed, now)
    enriched = ArticleEnriched(event_id=str(uuid.uuid4()), article_id=filed.article_id, version=filed.version,
                               occurred_at=now, correlation_id=filed.correlation_id, source_event_id=filed.event_id,
                               source_entry_id="", tags=found.tags, subjects=found.subjects, related=found.related)
    enricher().index_article(filed.article_id, filed.headline, found.lead, [t.id for t in found.tags], now)
    return {**message, "enriched": msgspec.to_builtins(enriched)}


@app.task(name="peer.publish")  # type: ignore[untyped-decorator]
def publish(message: dict[str, Any]) -> None:
    filed = msgspec.convert(message["filed"], ArticleFiled, strict=False)
    enriched = msgspec.convert(message["enriched"], ArticleEnriched, strict=False)
    item = publish_core.build_item(filed, enriched)
    output().xadd(OUTPUT, {"n": str(message["n"]), "item": msgspec.json.encode(item)})


def _read(redis: Redis, total: int, arrived: dict[int, float], timeout: float) -> None:
    last = "0-0"
    deadline = time.monotonic() + timeout
    while len(arrived) < total and time.monotonic() < deadline:
        reply: Any = redis.xread({OUTPUT: last}, count=500, block=200)
        now = time.perf_counter()
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id
                arrived[int(fields[b"n"])] = now


def measure(count: int, rate: float | None, timeout: float) -> dict[str, object]:
    redis = Redis.from_url(BROKER)
    redis.delete(OUTPUT)
    bodies = [story_bytes(n).decode() for n in range(min(count, 2000))]
    warm: dict[int, float] = {}
    for n in range(4):  # the workers are up and have loaded the enricher
        chain(ingest.s(bodies[n], -1 - n), enrich.s(), publish.s()).apply_async()
    _read(redis, 4, warm, 120)
    if len(warm) < 4:
        raise RuntimeError("the Celery workers did not answer within 120 s")
    redis.delete(OUTPUT)
    freeze_startup_objects()  # this process only sends and times, as the wire's bench process does
    arrived: dict[int, float] = {}
    reader = threading.Thread(target=_read, args=(Redis.from_url(BROKER), count, arrived, timeout), daemon=True)
    reader.start()
    scheduled: list[float] = []
    start = time.perf_counter()
    for n in range(count):
        due = time.perf_counter() if rate is None else start + n / rate
        if rate is not None and (delay := due - time.perf_counter()) > 0:
            time.sleep(delay)
        scheduled.append(due)
        chain(ingest.s(bodies[n % len(bodies)], n), enrich.s(), publish.s()).apply_async()
    reader.join()
    done = [n for n in range(count) if n in arrived]
    latencies = [(arrived[n] - scheduled[n]) * 1000 for n in done]
    elapsed = max(arrived.values()) - start if arrived else float("inf")
    return {"stories": count, "delivered": len(done), "throughput": len(done) / elapsed,
            "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95), "p99": percentile(latencies, 0.99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    count = args.stories if args.rate is None else max(1, int(args.rate * args.seconds))
    print(json.dumps(measure(count, args.rate, args.timeout)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
