"""What an AOF rewrite costs a writer that waits for its fsync, and what the cost grows with.

    python -m bench.rewrite [--entries 60000] [--rate 200] [--seconds 5]

Starts a server of its own (AOF, ``appendfsync always``, the wire's ``rdbcompression no``, no
automatic rewrite), appends
``--entries`` stream entries of about 14 KB (four of the generated stories each, so the base file
compresses as theirs would), then times one ``XADD`` of 1 KB at a time, ``--rate`` a second, as ingest's filing waits for
its fsync: for ``--seconds`` with nothing else going on, then from a ``BGREWRITEAOF`` on, then
from a second ``BGREWRITEAOF`` right after the first. Both rewrites write the same dataset; the
first then deletes the incremental file all the entries were appended to, the second only the
compact base the first wrote. For each part it prints p50, p99 and the slowest write (and when it
came), the size of the files the rewrite replaced and of the base it wrote, the fork's time, how
long the rewrite took and the CPU its child used. ``--config rdbcompression=yes`` (any server
setting) compares the server's options.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.asyncio import Redis

from bench.latency import machine
from bench.procs import percentile
from bench.stories import story_bytes
from services.wire.redis_server import RedisServer

PROBE_STREAM = "probe"
DATA_STREAM = "data"
STORIES_PER_ENTRY = 4


@dataclass
class Part:
    name: str
    latencies_ms: list[float]
    replaced_mb: float = 0.0  # the AOF files the rewrite replaced
    fork_ms: float = 0.0
    rewrite_s: float = 0.0
    child_cpu_s: float = 0.0  # user + system CPU of the forked child that wrote the new base
    base_mb: float = 0.0  # the base file it wrote

    def line(self) -> str:
        worst = max(range(len(self.latencies_ms)), key=self.latencies_ms.__getitem__)
        text = (f"{self.name:15s} p50 {percentile(self.latencies_ms, 0.5):6.2f} ms, p99 "
                f"{percentile(self.latencies_ms, 0.99):6.2f} ms, slowest {self.latencies_ms[worst]:7.1f} ms "
                f"(write {worst + 1} of {len(self.latencies_ms)})")
        if self.rewrite_s:
            text += (f"; replaced {self.replaced_mb:,.0f} MB of AOF files with a {self.base_mb:,.0f} MB base, "
                     f"fork {self.fork_ms:.1f} ms, rewrite {self.rewrite_s:.2f} s, its child {self.child_cpu_s:.2f} s of CPU")
        return text


def aof_mb(data_dir: Path, suffix: str = "") -> float:
    return sum(f.stat().st_size for f in (data_dir / "appendonlydir").iterdir() if f.name.endswith(suffix)) / 1e6


def children_cpu_s(pid: int) -> float:
    """User + system CPU of a process's children that it has waited for (``cutime`` + ``cstime``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def fill(client: redis.Redis, entries: int) -> None:
    stories = [story_bytes(n) for n in range(200)]
    pipe = client.pipeline(transaction=False)
    for n in range(entries):
        body = b"".join(stories[(n + k * 37) % len(stories)] for k in range(STORIES_PER_ENTRY))
        pipe.xadd(DATA_STREAM, {"data": body + str(n).encode()})
        if n % 200 == 199:
            pipe.execute()
    pipe.execute()


async def probe(url: str, rate: float, seconds: float) -> list[float]:
    """One XADD at a time on schedule; each one's time to its (fsynced) reply."""
    client = Redis.from_url(url)
    latencies: list[float] = []
    start = time.perf_counter()
    try:
        for n in range(max(1, int(rate * seconds))):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            sent = time.perf_counter()
            await client.xadd(PROBE_STREAM, {"data": b"x" * 1000})
            latencies.append((time.perf_counter() - sent) * 1000)
    finally:
        await client.aclose()
    return latencies


def rewrite_part(name: str, client: redis.Redis, server: RedisServer, rate: float, seconds: float) -> Part:
    replaced = aof_mb(server.data_dir)
    pid = client.info("server")["process_id"]
    cpu_before = children_cpu_s(pid)
    began = time.perf_counter()
    client.bgrewriteaof()

    async def timed() -> tuple[list[float], float]:
        """The probe, and when the rewrite was seen done (polled every 20 ms beside it, and after it)."""
        probing = asyncio.create_task(probe(server.url, rate, seconds))
        watcher = Redis.from_url(server.url)
        try:
            while True:  # the server says nothing when it is done: ask it
                if not (await watcher.info("persistence"))["aof_rewrite_in_progress"]:
                    break
                await asyncio.sleep(0.02)
            done = time.perf_counter()
        finally:
            await watcher.aclose()
        return await probing, done - began

    latencies, rewrite_s = asyncio.run(timed())
    part = Part(name, latencies, replaced_mb=replaced, rewrite_s=rewrite_s)
    part.fork_ms = client.info("stats")["latest_fork_usec"] / 1000
    part.child_cpu_s = children_cpu_s(pid) - cpu_before
    part.base_mb = aof_mb(server.data_dir, ".base.rdb")
    return part


def run(entries: int, rate: float, seconds: float, config: dict[str, str] | None = None) -> list[Part]:
    with tempfile.TemporaryDirectory(prefix="newswire-rewrite-") as tmp:
        server = RedisServer(Path(tmp), config={"auto-aof-rewrite-min-size": "64gb", **(config or {})})
        server.start()
        try:
            client = redis.Redis.from_url(server.url)
            fill(client, entries)
            print(f"dataset: {entries:,} entries, {client.info('memory')['used_memory'] / 1e6:,.0f} MB of memory, "
                  f"{aof_mb(server.data_dir):,.0f} MB of AOF", flush=True)
            parts = [Part("quiet", asyncio.run(probe(server.url, rate, seconds)))]
            parts.append(rewrite_part("first rewrite", client, server, rate, seconds))
            parts.append(rewrite_part("second rewrite", client, server, rate, seconds))
            client.close()
            return parts
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=60_000)
    parser.add_argument("--rate", type=float, default=200.0, help="timed writes a second")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each part is timed")
    parser.add_argument("--config", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of the started server, e.g. rdbcompression=yes (repeatable)")
    args = parser.parse_args()
    config = dict(item.split("=", 1) for item in args.config)
    print(f"machine: {machine()}")
    if config:
        print("server settings: " + ", ".join(f"{k} {v}" for k, v in config.items()))
    for part in run(args.entries, args.rate, args.seconds, config):
        print(part.line())


if __name__ == "__main__":
    main()
