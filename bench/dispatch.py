"""What a worker spends on reading a batch, apart from handling it: the wire's ``StreamWorker`` (on
FastStream) against a bare redis-py loop, both reading batches of ``--batch`` entries and acking each.

    python -m bench.dispatch [--entries 3000] [--batch 1] [--loop uvloop|asyncio] [--redis-url URL]

At a moderate filing rate nearly every batch holds one entry, so this per-batch cost is paid per
story by every consumer group (enrich, publish, lifecycle, webhook fan-out). The entries are of a
type no worker knows, so the worker only acks them: what is measured is reading, dispatch and the
ack. Starts its own server (AOF on, ``appendfsync always``) unless given one, whose db it flushes.
Prints the CPU time of this process per batch for both, and their ratio. ``--loop asyncio`` runs both
on the standard event loop instead of uvloop (the services' loop).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import cast

from redis.asyncio import Redis

from bench.drills_wire import eventually
from bench.latency import machine
from schemas.streams import Group, Stream, stream_key
from services.wire.eventlog import EventLog
from services.wire.loop import run_on_uvloop
from services.wire.redis_server import RedisServer
from services.wire.settings import Settings
from services.wire.worker import Call, NoReads, StreamWorker

ENTRY = {b"type": b"bench.noop.v1", b"id": b"0", b"article": b"urn:bench:0", b"version": b"1", b"data": b"{}"}


class Noop(NoReads):
    """Reads the filed stream; has no effect for any entry (each is acked in the batch's write)."""

    group = Group.ENRICH
    input = Stream.FILED
    defer_idle_acks = False

    async def handle(self, event: object, entry_id: str, partition: int) -> Call | None:
        raise AssertionError("the entries are of a type no worker decodes")


async def fill(redis: Redis, stream: str, entries: int) -> None:
    for start in range(0, entries, 500):
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(min(500, entries - start)):
                pipe.xadd(stream, ENTRY)  # type: ignore[arg-type]
            await pipe.execute()


async def all_acked(redis: Redis, stream: str, group: str) -> bool:
    """Has ``group`` read and acked every entry of ``stream``?"""
    info = next(g for g in await redis.xinfo_groups(stream) if g["name"].decode() == group)
    return int(info["pending"]) + int(info["lag"] or 0) == 0


async def worker_cpu(url: str, entries: int, batch: int) -> float:
    """CPU seconds of this process while a StreamWorker reads and acks ``entries``."""
    redis = Redis.from_url(url)
    await redis.flushdb()
    settings = Settings(redis_url=url, batch_size=batch, consumer_name="dispatch")
    stream = stream_key(Stream.FILED)
    await fill(redis, stream, entries)
    eventlog = EventLog(redis, settings)
    worker = StreamWorker(eventlog, Noop(), settings)
    began = time.process_time()
    await worker.start()
    await eventually(lambda: all_acked(redis, stream, Group.ENRICH.value), 300, "every entry read and acked", step=0.05)
    spent = time.process_time() - began
    await worker.stop()
    await redis.aclose()
    return spent


async def bare_cpu(url: str, entries: int, batch: int) -> float:
    """CPU seconds of this process while a bare loop reads and acks ``entries`` (XREADGROUP, XACK)."""
    redis = Redis.from_url(url)
    await redis.flushdb()
    stream = "bench:{d}:bare"
    await fill(redis, stream, entries)
    await redis.xgroup_create(stream, "bare", id="0")
    began = time.process_time()
    done = 0
    while done < entries:
        reply = await redis.xreadgroup("bare", "c", {stream: ">"}, count=batch, block=500)
        for _name, rows in cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]], reply):
            await redis.xack(stream, "bare", *(entry_id for entry_id, _ in rows))
            done += len(rows)
    spent = time.process_time() - began
    await redis.aclose()
    return spent


async def measure(url: str, entries: int, batch: int) -> None:
    batches = -(-entries // batch)
    await worker_cpu(url, min(entries, 300), batch)  # imports, connections and caches warm
    ours = await worker_cpu(url, entries, batch) / batches * 1e6
    bare = await bare_cpu(url, entries, batch) / batches * 1e6
    print(f"machine: {machine()}")
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(f"{entries} entries in batches of {batch}, CPU of this process per batch ({loop} event loop):")
    print(f"  StreamWorker (FastStream subscriber, process, ack): {ours:,.0f} µs")
    print(f"  bare redis-py loop (XREADGROUP, XACK):               {bare:,.0f} µs ({ours / bare:.2f} x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    run = run_on_uvloop if args.loop == "uvloop" else asyncio.run
    if args.redis_url:
        run(measure(args.redis_url, args.entries, args.batch))
        return
    with tempfile.TemporaryDirectory(prefix="newswire-dispatch-") as tmp, RedisServer(Path(tmp)) as server:
        run(measure(server.url, args.entries, args.batch))


if __name__ == "__main__":
    main()
