"""Time for one published item to reach 1,000 webhook partners on loopback.

    python -m bench.webhooks [--partners 1000] [--items 5]

Starts a Redis server of its own (or uses ``NEWSWIRE_BENCH_REDIS_URL``, a throwaway server it flushes), registers the partners
(each with its own URL ``/p/<n>`` on one loopback receiver, run as a process of its own), starts
the webhook service, then publishes items one at a time and times each from its append to the
published stream to the arrival of its last signed ``POST``. Prints the figures and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import structlog
from redis.asyncio import Redis

from bench.latency import ROOT, machine
from bench.receiver import Receiver
from schemas.codec import encode_event
from schemas.events import ArticlePublished
from schemas.ninjs import Headline, NinjsItem
from schemas.partners import Filters
from schemas.streams import Stream, stream_key
from services.publish.partners import PartnerRegistry
from services.publish.webhooks import WebhookService, WebhookSettings
from services.wire.redis_server import RedisServer
from services.wire.settings import Durability, Settings


async def serve(partners: int) -> None:
    """The receiver, in a process of its own: prints its port, then a line each time ``partners`` POSTs arrived."""
    receiver = await Receiver().start()
    print(f"port {receiver.port}", flush=True)
    rounds = 0
    while True:
        await receiver.arrived.wait()
        receiver.arrived.clear()
        if len(receiver.requests) >= (rounds + 1) * partners:
            rounds += 1
            batch = receiver.requests[(rounds - 1) * partners: rounds * partners]
            ids = {r.headers["webhook-id"] for r in batch}
            print(f"done {time.time()} {len({r.path for r in batch})} {len(ids)}", flush=True)


async def run(redis_url: str, partners: int, items: int) -> None:
    redis = Redis.from_url(redis_url, max_connections=2000)
    await redis.flushdb()
    child = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.webhooks", "--serve", str(partners),
                                                 stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    assert child.stdout is not None
    port = int((await child.stdout.readline()).split()[1])
    registry = PartnerRegistry(redis)
    now = datetime.now(UTC)
    for n in range(partners):
        await registry.register(f"p{n}", modes=["webhook"], filters=Filters(),
                                webhook_url=f"http://127.0.0.1:{port}/p/{n}", actor="bench", now=now)
    settings = Settings(redis_url=redis_url, durability=Durability.NONE, consumer_name=f"bench-{uuid.uuid4().hex[:6]}")
    service = WebhookService(redis, settings, WebhookSettings(allow=frozenset({"loopback"})), registry)
    await service.start()
    assert len(service.tasks) == partners
    await asyncio.sleep(1.0)  # every partner loop has looked at its (empty) outbox once
    figures: list[float] = []
    try:
        for i in range(items):
            item = NinjsItem(uri=f"urn:newswire:article:{uuid.uuid4()}", type="text", pub_status="usable", version="1",
                             language="en", urgency=5, headlines=[Headline(value=f"Benchmark item {i}")])
            event = ArticlePublished(event_id=str(uuid.uuid4()), article_id=item.uri, version=1,
                                     occurred_at=datetime.now(UTC), correlation_id="bench",
                                     source_event_id=str(uuid.uuid4()), item=item)
            started = time.time()
            await redis.xadd(stream_key(Stream.PUBLISHED), encode_event(event))  # type: ignore[arg-type]
            _done, finished, paths, ids = (await child.stdout.readline()).decode().split()
            took = float(finished) - started
            figures.append(took)
            if (int(paths), int(ids)) != (partners, 1):
                raise SystemExit(f"item {i + 1}: {paths} partners and {ids} webhook-ids in the round; expected {partners}, 1")
            print(f"item {i + 1}: reached {partners} partners in {took * 1000:.0f} ms")
            await asyncio.sleep(1.0)
    finally:
        await service.stop()
        child.terminate()
        await child.wait()
        await redis.aclose()
    print(f"\none item to {partners} webhook partners on loopback: median {statistics.median(figures) * 1000:.0f} ms, "
          f"best {min(figures) * 1000:.0f} ms, worst {max(figures) * 1000:.0f} ms ({items} items)")
    print(f"machine: {machine()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the receiver process
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    given = os.environ.get("NEWSWIRE_BENCH_REDIS_URL")
    if given:
        asyncio.run(run(given, args.partners, args.items))
        return
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as server:
        asyncio.run(run(server.url, args.partners, args.items))


if __name__ == "__main__":
    main()
