"""SSE delivery latency with many partners connected to one publish process.

    python -m bench.sse [--partners 500] [--rate 100] [--seconds 20]

Starts a Redis server and ``newswire publish`` as separate processes, registers the partners,
opens one SSE connection each (plain asyncio sockets, so the client is not the bottleneck),
then appends items to the published stream at a fixed rate and times each item from its append
to its arrival at every partner. Prints p50/p99/max over all deliveries and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from redis.asyncio import Redis

from bench.latency import machine
from schemas.codec import encode_event
from schemas.events import ArticlePublished
from schemas.ninjs import Headline, NinjsItem
from schemas.partners import Filters
from schemas.streams import Stream, stream_key
from services.publish.partners import PartnerRegistry
from services.wire.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
URI = re.compile(rb'"uri":"urn:bench:(\d+)"')


async def partner_stream(port: int, token: str, arrivals: list[list[float]], ready: asyncio.Event, total: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    request = f"GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    writer.write(request.encode())
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r} {await reader.read(500)!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass  # response headers
    ready.set()
    seen = 0
    while seen < total:
        line = await reader.readline()
        if not line:
            raise RuntimeError(f"stream closed after {seen} items")
        if line.startswith(b"data:"):
            match = URI.search(line)
            if match:
                arrivals[int(match.group(1))].append(time.perf_counter())
                seen += 1
    writer.close()


async def run(partners: int, rate: float, seconds: float, redis_url: str, port: int) -> list[float]:
    redis = Redis.from_url(redis_url)
    registry = PartnerRegistry(redis)
    tokens = []
    for n in range(partners):
        _, token, _ = await registry.register(f"bench-{n}", modes=["sse"], filters=Filters(), webhook_url=None,
                                              actor="bench", now=datetime.now(UTC))
        tokens.append(token)
    await asyncio.sleep(1.5)  # the publish process sees new partners within a second
    total = int(rate * seconds)
    arrivals: list[list[float]] = [[] for _ in range(total)]
    readies = [asyncio.Event() for _ in tokens]
    readers = [asyncio.create_task(partner_stream(port, t, arrivals, r, total)) for t, r in zip(tokens, readies, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    await asyncio.sleep(0.5)
    sent: list[float] = []
    key = stream_key(Stream.PUBLISHED)
    start = time.perf_counter()
    for n in range(total):
        target = start + n / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        item = NinjsItem(uri=f"urn:bench:{n}", type="text", pub_status="usable", version="1",
                         headlines=[Headline(value=f"Bench item {n}")])
        event = ArticlePublished(event_id=str(uuid.uuid4()), article_id=item.uri, version=1, occurred_at=datetime.now(UTC),
                                 correlation_id="bench", source_event_id="bench", item=item)
        sent.append(time.perf_counter())
        await redis.xadd(key, encode_event(event))  # type: ignore[arg-type]
    outcomes = await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 60)
    failures = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    if failures:
        print(f"{len(failures)} partner connections failed, e.g. {failures[0]}", file=sys.stderr)
    await redis.aclose()
    return [(arrival - sent[n]) * 1000 for n in range(total) for arrival in arrivals[n]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis", appendfsync="everysec") as server:
        port = free_port()
        env = {**os.environ, "REDIS_URL": server.url, "NEWSWIRE_PUBLISH_PORT": str(port), "NEWSWIRE_LOG_LEVEL": "WARNING",
               "PYTHONPATH": str(ROOT)}
        publish = subprocess.Popen([sys.executable, "-m", "services.publish"], env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            latencies = asyncio.run(run(args.partners, args.rate, args.seconds, server.url, port))
        finally:
            publish.terminate()
            publish.wait(30)
    expected = args.partners * int(args.rate * args.seconds)
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    print(f"machine: {machine()}")
    print(f"SSE, {args.partners} partners on one publish process, {args.rate:g} items/s for {args.seconds:g} s:")
    print(f"  deliveries {len(latencies)} of {expected}; latency append-to-arrival "
          f"p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, max {latencies[-1]:.1f} ms")
    return 0 if len(latencies) == expected else 1


if __name__ == "__main__":
    sys.exit(main())
