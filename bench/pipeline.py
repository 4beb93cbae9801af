"""Our wire under load: ingest, enrich and publish as separate processes on one Redis server.

Measures ``POST /v1/articles`` alone (closed loop), then the whole pipeline from the filing
request to the partner's SSE connection: fixed rates (open loop), N stories pushed at once, and a
search for the highest rate sustained without growing lag.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from redis.asyncio import Redis

from bench.loadgen import Follower, Sent, closed_loop, open_loop, post
from bench.procs import Children, percentile, python_module, rss_mb, service_of
from bench.stories import story_bytes
from schemas.partners import Filters
from schemas.streams import Stream, stream_key
from services.ingest.core import new_article_id
from services.publish.partners import PartnerRegistry
from services.wire.credentials import Role, issue
from services.wire.loop import EV_GC_PAUSE
from services.wire.redis_server import free_port
from services.wire.worker import WORKERS_KEY

EDITOR = "bench-desk"
PARTNER = "bench-outlet"
SERVICES = ("ingest", "enrich", "publish")
MAX_LAG_MS = 1000.0
MIN_SEARCH_RATE = 20.0
CONFIRM_TRIES = 5  # long runs at the best probe and below it, until one is sustained
CONFIRM_STEP = 0.8  # each try at this much of the last
GC_LOG_MS = 10  # the services log every garbage collection that pauses them this long


@dataclass
class RateRun:
    """One run at a fixed rate (or pushed at once, ``rate`` 0)."""

    rate: float
    sent: int
    accepted: int
    delivered: int
    latencies_ms: list[float]
    elapsed_s: float  # first scheduled send to last arrival
    send_behind_s: float  # how late the last request left compared with its schedule
    first_p50_ms: float  # p50 latency of the first fifth of the run (by send time)
    last_p50_ms: float  # ... and of the last fifth
    backlog_end: int  # sent but not yet delivered when the last request was sent
    stages_ms: dict[str, list[float]] = field(default_factory=dict)  # per stage, from the entry ids on the log
    cpu_per_story_us: dict[str, float] = field(default_factory=dict)  # per process, over the run (and its drain)
    # AOF rewrites of the server that ran during the run (and its drain): each forks a child that
    # writes the whole dataset, on the same cores
    aof_rewrites: int = 0
    # stories sent through the pipeline before this run: the related-links archive it searches, and the
    # dataset a rewrite writes, grow from there
    after_stories: int = 0

    def pct(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    @property
    def throughput(self) -> float:
        return self.delivered / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def grown(self) -> bool:
        """The lag grew: the last fifth's median is over twice the first fifth's (and 50 ms more), or over
        ``MAX_LAG_MS`` (a queue that long means the wire is not keeping up, whatever it did at the start)."""
        return self.last_p50_ms > max(2 * self.first_p50_ms, self.first_p50_ms + 50) or self.last_p50_ms > MAX_LAG_MS

    @property
    def sustained(self) -> bool:
        """Everything delivered, the generator on schedule, and the lag not growing."""
        return self.delivered == self.sent == self.accepted and self.send_behind_s < 0.5 and not self.grown

    def verdict(self) -> str:
        return self._verdict() + self.rewrites_text()

    def _verdict(self) -> str:
        if self.accepted < self.sent:
            return f"{self.sent - self.accepted} requests refused"
        if self.delivered < self.sent:
            return f"{self.sent - self.delivered} not delivered"
        if self.send_behind_s >= 0.5:
            return f"generator {self.send_behind_s:.1f} s behind"
        if not self.sustained:
            return f"lag grew {self.first_p50_ms:.0f} -> {self.last_p50_ms:.0f} ms"
        return "sustained"

    def rewrites_text(self) -> str:
        n = self.aof_rewrites
        return f" (with {n} AOF rewrite{'s' if n > 1 else ''} of the server meanwhile)" if n else ""


@dataclass
class IngestRun:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


@dataclass
class Wire:
    """The three services as processes, with a bench editor key and an SSE partner."""

    children: Children
    redis_url: str
    durability: str
    ingest_port: int = field(default_factory=free_port)
    publish_port: int = field(default_factory=free_port)
    editor_key: str = ""
    partner_token: str = ""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    bodies: list[bytes] = field(default_factory=list)
    _uris: dict[int, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**os.environ, "REDIS_URL": self.redis_url, "NEWSWIRE_INGEST_PORT": str(self.ingest_port),
                "NEWSWIRE_PUBLISH_PORT": str(self.publish_port), "NEWSWIRE_DURABILITY": self.durability,
                "NEWSWIRE_LOG_FORMAT": "json", "NEWSWIRE_GC_LOG_MS": str(GC_LOG_MS),
                "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    async def credentials(self, redis: Redis) -> None:
        self.editor_key = await issue(redis, Role.EDITOR, EDITOR, replace=True)
        _, self.partner_token, _ = await PartnerRegistry(redis).register(
            PARTNER, modes=["sse"], filters=Filters(), webhook_url=None, actor="bench", now=datetime.now(UTC))

    def start(self, *names: str, copies: int = 1) -> None:
        for name in names:
            for copy in range(copies):
                self.children.start(name if copy == 0 else f"{name}-{copy + 1}", python_module(f"services.{name}"),
                                    self.env())

    def services(self) -> dict[str, int]:
        """Each running service process (``enrich-2`` for a second enrich worker) and its pid."""
        return {name: proc.pid for name, proc in self.children.procs.items() if service_of(name) in SERVICES}

    async def wait_ready(self, redis: Redis, names: tuple[str, ...], within: float = 90) -> None:
        deadline = time.monotonic() + within
        urls = [f"http://127.0.0.1:{self.ingest_port}/health"] if "ingest" in names else []
        urls += [f"http://127.0.0.1:{self.publish_port}/health"] if "publish" in names else []
        groups = [g for g in ("enrich", "publish") if g in names]
        async with httpx.AsyncClient(timeout=1) as client:
            while time.monotonic() < deadline:
                self.children.check_alive()
                try:
                    healthy = all([(await client.get(u)).status_code == 200 for u in urls])
                except httpx.HTTPError:
                    healthy = False
                workers = [k.decode() if isinstance(k, bytes) else k for k in await redis.hkeys(WORKERS_KEY)]
                if healthy and all(any(w.startswith(g + "-") for w in workers) for g in groups):
                    return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{', '.join(names)} did not come up within {within:g} s")

    def request(self, n: int) -> bytes:
        headers = {"Authorization": f"Bearer {self.editor_key}", "Idempotency-Key": f"{self.run_id}-{n}"}
        return post("/v1/articles", self.bodies[n % len(self.bodies)], headers)

    def uri(self, n: int) -> str:
        found = self._uris.get(n)
        if found is None:
            found = self._uris[n] = new_article_id(EDITOR, f"{self.run_id}-{n}", uuid.UUID(int=0))
        return found

    def rss(self, redis_pid: int | None) -> dict[str, float]:
        out = {name: rss_mb(pid) for name, pid in self.services().items()}
        if redis_pid:
            out["redis"] = rss_mb(redis_pid)
        return out


def prepare_bodies(count: int, seed: int) -> list[bytes]:
    return [story_bytes(n, seed) for n in range(count)]


async def ingest_only(wire: Wire, seconds: float, connections: int) -> IngestRun:
    started = time.perf_counter()
    results = await closed_loop(wire.ingest_port, wire.request, 10_000_000, connections=connections, seconds=seconds)
    elapsed = time.perf_counter() - started
    ok = [s for s in results if s.status == 202]
    return IngestRun(len(ok), len(results) - len(ok), elapsed, [(s.done - s.sent) * 1000 for s in ok])


def summarise(wire: Wire, follower: Follower, results: list[Sent], rate: float) -> RateRun:
    results.sort(key=lambda s: s.scheduled)
    accepted = [s for s in results if s.status == 202]
    arrivals = follower.arrivals
    pairs = [(s, arrivals[wire.uri(s.n)]) for s in accepted if wire.uri(s.n) in arrivals]
    latencies = [(a - s.scheduled) * 1000 for s, a in pairs]
    fifth = max(1, len(pairs) // 5)
    first = [(a - s.scheduled) * 1000 for s, a in pairs[:fifth]]
    last = [(a - s.scheduled) * 1000 for s, a in pairs[-fifth:]]
    last_sent = max((s.sent for s in results), default=0.0)
    behind = max(((s.sent - s.scheduled) for s in results[-max(1, len(results) // 20):]), default=0.0)
    backlog = sum(1 for _s, a in pairs if a > last_sent) + (len(accepted) - len(pairs))
    elapsed = (max(a for _s, a in pairs) - results[0].scheduled) if pairs else 0.0
    return RateRun(rate, len(results), len(accepted), len(pairs), latencies, elapsed, behind,
                   percentile(first, 0.5), percentile(last, 0.5), backlog)


class Pipeline:
    """Runs load against a started wire and collects each run's figures."""

    def __init__(self, wire: Wire, follower: Follower, drain_s: float, redis: Redis) -> None:
        self.wire = wire
        self.redis = redis
        self.follower = follower
        self.drain_s = drain_s
        self.next_n = 0

    def _numbers(self, count: int) -> int:
        first, self.next_n = self.next_n, self.next_n + count
        return first

    async def _drain(self, results: list[Sent]) -> bool:
        uris = [self.wire.uri(s.n) for s in results if s.status == 202]
        return await self.follower.wait_for(uris, self.drain_s)

    async def at_rate(self, rate: float, seconds: float, connections: int = 64, stages: bool = False) -> RateRun:
        count = max(1, int(rate * seconds))
        wall_ms = time.time() * 1000
        rewrites = await aof_rewrites(self.redis)
        first = self._numbers(count)
        results = await open_loop(self.wire.ingest_port, self.wire.request, first, count, rate, connections)
        await self._drain(results)  # what did not arrive in time shows in the run as not delivered
        self.wire.children.check_alive()
        run = summarise(self.wire, self.follower, results, rate)
        run.aof_rewrites = rewrites_since(rewrites, await aof_rewrites(self.redis))
        run.after_stories = first
        if stages:
            run.stages_ms = await self.stages(results, int(wall_ms) - 1000)
        return run

    async def stages(self, results: list[Sent], since_ms: int) -> dict[str, list[float]]:
        """Where each story's time went, from the millisecond in the id of its entry on each stream:
        request to filed (ingest), filed to enriched, enriched to published, published to the SSE client."""
        offset_ms = (time.time() - time.perf_counter()) * 1000  # perf_counter -> wall clock, as entry ids use
        logged: dict[Stream, dict[str, int]] = {}
        for stream in (Stream.FILED, Stream.ENRICHED, Stream.PUBLISHED):
            found: dict[str, int] = {}
            logged[stream] = found
            start = f"{since_ms}-0"
            while True:
                rows: Any = await self.redis.xrange(stream_key(stream), min=start, count=1000)
                for entry_id, fields in rows:
                    found.setdefault(fields[b"article"].decode(), int(entry_id.split(b"-")[0]))
                if len(rows) < 1000:
                    break
                start = "(" + rows[-1][0].decode()
        out: dict[str, list[float]] = {"ingest": [], "enrich": [], "publish": [], "delivery": []}
        for sent in results:
            uri = self.wire.uri(sent.n)
            marks = [logged[s].get(uri) for s in (Stream.FILED, Stream.ENRICHED, Stream.PUBLISHED)]
            arrived = self.follower.arrivals.get(uri)
            if sent.status != 202 or arrived is None or None in marks:
                continue
            filed, enriched, published = (float(m) for m in marks if m is not None)
            out["ingest"].append(filed - (sent.scheduled * 1000 + offset_ms))
            out["enrich"].append(enriched - filed)
            out["publish"].append(published - enriched)
            out["delivery"].append(arrived * 1000 + offset_ms - published)
        return out

    async def pushed(self, count: int, connections: int = 64) -> RateRun:
        rewrites = await aof_rewrites(self.redis)
        first = self._numbers(count)
        results = await closed_loop(self.wire.ingest_port, self.wire.request, first, connections=connections,
                                    count=count)
        await self._drain(results)  # what did not arrive in time shows in the run as not delivered
        run = summarise(self.wire, self.follower, results, 0)
        run.aof_rewrites = rewrites_since(rewrites, await aof_rewrites(self.redis))
        run.after_stories = first
        return run

    async def search(self, start: float, step: float, probe_s: float, confirm_s: float, ceiling: float,
                     log: Callable[[str], None]) -> tuple[list[RateRun], RateRun | None]:
        """Probe upward from ``start`` until a rate is not sustained (downward, halving, if ``start`` is not),
        bisect once, then confirm the best."""
        probes: list[RateRun] = []
        best = failed = 0.0
        rate = start
        while rate <= ceiling and rate >= MIN_SEARCH_RATE:
            run = await self.at_rate(rate, probe_s)
            probes.append(run)
            log(f"  probe {rate:6.0f}/s for {probe_s:g} s: p50 {run.pct(0.5):.1f} ms, p99 {run.pct(0.99):.1f} ms, "
                f"{run.verdict()}")
            if not run.sustained:
                failed = rate
                if best:
                    break
                rate, step = round(rate / 2 / 10) * 10, step / 2  # not even the start: look below it
                continue
            best = rate
            if failed:
                break
            rate += step
        if failed and best and failed - best > step / 4:
            middle = round((best + failed) / 2 / 10) * 10
            run = await self.at_rate(middle, probe_s)
            probes.append(run)
            log(f"  probe {middle:6.0f}/s for {probe_s:g} s: p50 {run.pct(0.5):.1f} ms, p99 {run.pct(0.99):.1f} ms, "
                f"{run.verdict()}")
            if run.sustained:
                best = middle
        confirmed = None
        # The best probe, then lower while the long run shows its lag growing: every long run adds its
        # stories to the archive that each related-links search reads, so a rate that held for a probe
        # may not hold for a minute. Five tries reach down to 0.41 of the best probe.
        for attempt in range(CONFIRM_TRIES):
            if best < MIN_SEARCH_RATE:
                break
            confirmed = await self.at_rate(best, confirm_s)
            log(f"  confirm {best:5.0f}/s for {confirm_s:g} s: p50 {confirmed.pct(0.5):.1f} ms, "
                f"p99 {confirmed.pct(0.99):.1f} ms, lag {confirmed.first_p50_ms:.0f} -> {confirmed.last_p50_ms:.0f} ms, "
                f"{confirmed.verdict()}")
            if confirmed.sustained or attempt == CONFIRM_TRIES - 1:
                break
            best = round(best * CONFIRM_STEP / 10) * 10
        return probes, confirmed


async def aof_rewrites(redis: Redis) -> tuple[int, bool]:
    """How many AOF rewrites the server has started, and whether one is running now."""
    return _rewrites(await redis.info("persistence"))


def _rewrites(persistence: dict[str, Any]) -> tuple[int, bool]:
    return int(persistence.get("aof_rewrites", 0)), bool(int(persistence.get("aof_rewrite_in_progress", 0)))


def rewrites_since(before: tuple[int, bool], after: tuple[int, bool]) -> int:
    """The rewrites that ran between two readings: those started between them, and one that was
    already running at the first."""
    return after[0] - before[0] + int(before[1])


@dataclass(frozen=True)
class Stored:
    """What the server holds at one moment (``INFO memory`` and ``persistence``) and the stories on its log."""

    used_memory: int
    aof_size: int  # 0 with AOF off
    aof_base_size: int  # changes when a rewrite completes (on servers that do not count rewrites too)
    rewrites: tuple[int, bool]
    stories: int  # entries on the filed streams

    def per_story(self, later: Stored) -> tuple[float, float | None]:
        """Bytes of memory and of AOF that each story filed between this reading and ``later`` added;
        the AOF figure is None when a rewrite ran in between (the file was replaced, not grown)."""
        stories = max(1, later.stories - self.stories)
        rewritten = rewrites_since(self.rewrites, later.rewrites) or later.aof_base_size != self.aof_base_size
        aof = None if rewritten or not later.aof_size else (later.aof_size - self.aof_size) / stories
        return (later.used_memory - self.used_memory) / stories, aof


async def stored(redis: Redis, partitions: int) -> Stored:
    memory: dict[str, Any] = await redis.info("memory")
    persistence: dict[str, Any] = await redis.info("persistence")
    return Stored(used_memory=int(memory["used_memory"]), aof_size=int(persistence.get("aof_current_size", 0)),
                  aof_base_size=int(persistence.get("aof_base_size", 0)), rewrites=_rewrites(persistence),
                  stories=await filed_stories(redis, partitions))


async def filed_stories(redis: Redis, partitions: int) -> int:
    """The entries on the filed streams of every partition: the stories on the log."""
    async with redis.pipeline(transaction=False) as pipe:
        for partition in range(partitions):
            pipe.xlen(stream_key(Stream.FILED, partition))
        return sum(int(n) for n in await pipe.execute())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class GcPause(NamedTuple):
    """A garbage collection a service logged: its wall time, and the CPU time the collector itself
    used (``None`` in a log line without it); the difference is time the process waited for a core."""

    ms: float
    cpu_ms: float | None


def gc_pauses(log_text: str) -> list[GcPause]:
    """The garbage collections a service logged (``gc.pause``, JSON lines)."""
    found = []
    for line in log_text.splitlines():
        if EV_GC_PAUSE not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == EV_GC_PAUSE:
            cpu = record.get("cpu_ms")
            found.append(GcPause(float(record["ms"]), None if cpu is None else float(cpu)))
    return found


def gc_pause_text(pauses: list[GcPause]) -> str:
    """How many, and the longest with its CPU time: "3, longest 49 ms (6 ms of CPU)"."""
    if not pauses:
        return "0"
    longest = max(pauses, key=lambda p: p.ms)  # by wall time only: a None CPU time does not compare
    cpu = "" if longest.cpu_ms is None else f" ({longest.cpu_ms:.0f} ms of CPU)"
    return f"{len(pauses)}, longest {longest.ms:.0f} ms{cpu}"
