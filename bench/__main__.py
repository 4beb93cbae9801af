"""The wire's throughput and latency, side by side with a bare redis-py floor and a Celery peer.

    python -m bench [--quick]

Starts its own Redis server (AOF on, ``appendfsync always`` unless told otherwise; or uses the one
``NEWSWIRE_BENCH_REDIS_URL``/``REDIS_URL`` names, whose db N, N+1 and N+2 it flushes), then, as
separate processes: ingest alone under a closed loop; ingest, enrich and publish under open-loop
load from the filing request to a partner's SSE connection (fixed rates, N stories at once, and a
search for the highest rate sustained without growing lag); the floor (``bench.floor``); and the
peer (``bench.peer_celery``, Celery workers as separate processes). Prints the machine, the load
average and one table in Markdown, ready for ``docs/performance.md``. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis import Redis as SyncRedis
from redis.asyncio import Redis

from bench.latency import machine
from bench.loadgen import Follower
from bench.pipeline import (
    GC_LOG_MS,
    SERVICES,
    GcPause,
    IngestRun,
    Pipeline,
    RateRun,
    Stored,
    Wire,
    cpu_seconds,
    gc_pause_text,
    gc_pauses,
    ingest_only,
    prepare_bodies,
    stored,
)
from bench.procs import Children, load_average, percentile, python_module, terminate_on_signals
from services.wire.loop import freeze_startup_objects, run_on_uvloop
from services.wire.redis_server import RedisServer
from services.wire.settings import Settings


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Other:
    """A floor or peer configuration's figures (from its JSON line)."""

    name: str
    throughput: float
    p50: float
    p95: float
    p99: float


@dataclass
class Report:
    args: argparse.Namespace
    redis_desc: str = ""
    load_start: str = ""
    load_end: str = ""
    ingest: IngestRun | None = None
    rates: list[RateRun] = field(default_factory=list)
    pushed: RateRun | None = None
    probes: list[RateRun] = field(default_factory=list)
    confirmed: RateRun | None = None
    rss: dict[str, float] = field(default_factory=dict)
    stored: tuple[Stored, Stored] | None = None  # the server at the start and the end of the wire's part
    gc_pauses: dict[str, list[GcPause]] = field(default_factory=dict)  # service -> its logged long collections
    cpu_per_story_us: dict[str, float] = field(default_factory=dict)
    others: list[Other] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def describe_server(url: str) -> tuple[str, str]:
    """The server's name and version and its AOF settings, as it reports them; and its appendfsync."""
    client = SyncRedis.from_url(url)
    try:
        info: dict[str, Any] = client.info("server")
        config: dict[str, Any] = client.config_get("append*")  # type: ignore[assignment]
        rewrite: dict[str, Any] = client.config_get("auto-aof-rewrite-*")  # type: ignore[assignment]
        compression: dict[str, Any] = client.config_get("rdbcompression")  # type: ignore[assignment]
    finally:
        client.close()
    name, version = ("Valkey", info["valkey_version"]) if "valkey_version" in info else ("Redis", info["redis_version"])
    fsync = str(config.get("appendfsync", "?"))
    min_mb = int(rewrite.get("auto-aof-rewrite-min-size", 0)) / 2**20
    growth = rewrite.get("auto-aof-rewrite-percentage", "?")
    return (f"{name} {version}, appendonly {config.get('appendonly', '?')}, appendfsync {fsync}, AOF rewritten "
            f"when it grows {growth} % and is at least {min_mb:,.0f} MB, rdbcompression "
            f"{compression.get('rdbcompression', '?')}"), fsync


def with_db(url: str, offset: int) -> str:
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0) + offset
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


async def flush(url: str) -> None:
    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


async def rewrite_after(redis: Redis, seconds: float) -> None:
    """``BGREWRITEAOF`` after ``seconds`` (``--rewrite-during``)."""
    await asyncio.sleep(seconds)
    await redis.bgrewriteaof()


async def run_ours(report: Report, children: Children, url: str, redis_pid: int | None) -> None:
    a = report.args
    wire = Wire(children, url, {"always": "fsync-always", "everysec": "fsync-everysec"}.get(a.appendfsync, "none"))
    wire.bodies = prepare_bodies(a.distinct_stories, a.seed)
    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
        await wire.credentials(redis)
        wire.start("ingest")
        await wire.wait_ready(redis, ("ingest",))
        log(f"ingest alone: {a.ingest_connections} connections, closed loop, {a.ingest_seconds:g} s")
        report.ingest = await ingest_only(wire, a.ingest_seconds, a.ingest_connections)
        await redis.flushdb()  # the pipeline starts on an empty log, not with the ingest run's backlog
        await wire.credentials(redis)
        wire.start("enrich", copies=a.enrich_workers)
        wire.start("publish")
        await wire.wait_ready(redis, SERVICES)
        partitions = Settings.from_env().partitions
        stored_before = await stored(redis, partitions)
        follower = Follower(wire.publish_port, wire.partner_token)
        await follower.start()
        pipeline = Pipeline(wire, follower, a.drain_seconds, redis)
        await pipeline.at_rate(50, a.warmup_seconds)  # first requests pay for imports and caches
        # The load generator and the SSE client share this process: its own full collections (of the
        # prepared stories, the imports) would show up as the wire's latency.
        freeze_startup_objects()

        def spy(label: str) -> Callable[[], None]:
            """With ``--profile``: record every service with py-spy into ``DIR/<label>-<service>.txt`` until
            the returned function is called."""
            if not a.profile:
                return lambda: None
            names = [f"py-spy-{label}-{name}" for name in wire.services()]
            for proc, (name, pid) in zip(names, wire.services().items(), strict=True):
                children.start(proc, [a.py_spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
                                      "-o", str(Path(a.profile) / f"{label}-{name}.txt")], os.environ)

            def done() -> None:
                for proc in names:
                    children.procs[proc].send_signal(signal.SIGINT)  # py-spy writes its profile and exits
                for proc in names:
                    children.procs[proc].wait(30)
                    children.stop(proc)
            return done

        async def fixed(rates: list[float]) -> None:
            for rate in rates:
                running = {**wire.services(), **({"redis": redis_pid} if redis_pid else {}), "bench": os.getpid()}
                cpu_before = {name: cpu_seconds(pid) for name, pid in running.items()}
                spied = spy(f"rate-{rate:g}")
                rewrite = (asyncio.create_task(rewrite_after(redis, a.rate_seconds / 5))
                           if a.rewrite_during == rate else None)
                run = await pipeline.at_rate(rate, a.rate_seconds, stages=True)
                if rewrite is not None:
                    await rewrite
                spied()
                run.cpu_per_story_us = cpu_per_story(running, cpu_before, run.delivered)
                report.rates.append(run)
                log(f"  {rate:6.0f}/s for {a.rate_seconds:g} s: p50 {run.pct(0.5):.1f} ms, p95 {run.pct(0.95):.1f} ms, "
                    f"p99 {run.pct(0.99):.1f} ms, {run.verdict()}; " + stage_text(run))

        # Rates beyond what the search starts from go last: an overload leaves a big archive behind it,
        # which would make every later part enrich against more stories than the earlier ones did.
        await fixed([r for r in a.rates if r <= a.search_start])
        pids = wire.services()
        if redis_pid:
            pids["redis"] = redis_pid
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        spied = spy("push")
        report.pushed = await pipeline.pushed(a.push, a.push_connections)
        spied()
        report.cpu_per_story_us = cpu_per_story(pids, before, a.push)
        log(f"  {a.push} at once: {report.pushed.throughput:.0f} stories/s, {report.pushed.verdict()}")
        log("search for the highest sustained rate:")
        report.probes, report.confirmed = await pipeline.search(a.search_start, a.search_step, a.probe_seconds,
                                                                a.confirm_seconds, a.search_ceiling, log)
        await fixed([r for r in a.rates if r > a.search_start])
        report.rates.sort(key=lambda r: r.rate)
        report.rss = wire.rss(redis_pid)
        report.stored = (stored_before, await stored(redis, partitions))
        await follower.stop()
    finally:
        await redis.aclose()
        for name in wire.services():
            children.stop(name)
            report.gc_pauses[name] = gc_pauses(children.log(name))


def run_json(argv: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False,
                          start_new_session=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[2:])} failed:\n{done.stdout}{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_floor(report: Report, url: str, enrich: bool) -> None:
    a = report.args
    env = dict(os.environ)
    extra = ["--enrich"] if enrich else []
    stories = a.floor_enrich_stories if enrich else a.floor_stories
    name = "floor + the wire's enrichment, one process" if enrich else "floor: bare redis-py loop, no enrichment"
    log(f"{name}: {stories} at once, then {a.compare_rate:g}/s")
    bulk = run_json(python_module("bench.floor", "--redis-url", url, "--stories", str(stories), *extra), env, 600)
    paced = run_json(python_module("bench.floor", "--redis-url", url, "--rate", str(a.compare_rate),
                                   "--seconds", str(a.rate_seconds), *extra), env, 600)
    report.others.append(Other(name, bulk["throughput"], paced["p50"], paced["p95"], paced["p99"]))


def run_peer(report: Report, children: Children, url: str, pool: str) -> None:
    a = report.args
    env = {**os.environ, "NEWSWIRE_BENCH_CELERY_BROKER": url}
    flags = ["--loglevel", "WARNING"]
    if pool == "prefork":
        names = {"celery": [*flags, "--pool", "prefork", "--concurrency", "2"]}
        label = "peer: Celery chain, prefork, concurrency 2"
    elif pool == "threads":
        names = {"celery": [*flags, "--pool", "threads", "--concurrency", "2"]}
        label = "peer: Celery chain, threads, concurrency 2"
    else:
        names = {f"celery-{i}": [*flags, "--pool", "solo", "-n", f"solo{i}@%h"] for i in (1, 2)}
        label = "peer: Celery chain, 2 solo worker processes"
    run_on_uvloop(flush(url))
    for name, worker_args in names.items():
        children.start(name, python_module("celery", "-A", "bench.peer_celery", "worker", *worker_args), env)
    try:
        log(f"{label}: {a.peer_stories} at once, then {a.compare_rate:g}/s")
        bulk = run_json(python_module("bench.peer_celery", "--stories", str(a.peer_stories)), env, 900)
        paced = run_json(python_module("bench.peer_celery", "--rate", str(a.compare_rate),
                                       "--seconds", str(a.rate_seconds)), env, 900)
        children.check_alive()
    finally:
        for name in names:
            children.stop(name)
    report.others.append(Other(label, bulk["throughput"], paced["p50"], paced["p95"], paced["p99"]))


def stage_text(run: RateRun) -> str:
    """Each stage's p50/p99, then the slowest story of each stage among the part's first second of
    stories, which is where a backlog left by the part before shows (e.g. an archive to index)."""
    first = max(1, int(run.rate))
    text = ", ".join(f"{name} {fmt(percentile(v, 0.5))}/{fmt(percentile(v, 0.99))}" for name, v in run.stages_ms.items())
    slowest = ", ".join(f"{name} {fmt(max(v[:first]))}" for name, v in run.stages_ms.items() if v)
    return f"{text}; slowest of the first second's stories: {slowest}" if slowest else text


def cpu_per_story(pids: dict[str, int], before: dict[str, float], stories: int) -> dict[str, float]:
    """Each process's CPU since ``before`` (seconds, by name), in µs per story."""
    return {name: (cpu_seconds(pid) - before[name]) / max(1, stories) * 1e6 for name, pid in pids.items()}


def stored_text(before: Stored, after: Stored) -> str:
    memory, aof = before.per_story(after)
    appended = (f"{aof / 1000:,.1f} KB appended to the AOF" if aof is not None
                else "AOF growth not measured (the server rewrote its AOF meanwhile)")
    return f"{memory / 1000:,.1f} KB of memory, {appended} ({after.stories - before.stories:,} stories)"


def cpu_text(per_story_us: dict[str, float]) -> str:
    return ", ".join(f"{name} {us:,.0f}" for name, us in per_story_us.items())


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"  # nan: no data


def render(report: Report) -> str:
    a = report.args
    out: list[str] = []
    add = out.append
    add(f"machine: {machine()}")
    add(f"load average (1/5/15 min) at start: {report.load_start}; at end: {report.load_end}")
    add(f"redis: {report.redis_desc}")
    services = ", ".join(k for k in report.rss if k != "redis") or "ingest, enrich, publish"
    add(f"cores: Redis, the services ({services}), the load generator and the SSE client (one process, uvloop) all "
        f"share the machine's {os.cpu_count()} cores; nothing is pinned")
    add(f"command: python -m bench {' '.join(a.argv)}".rstrip() + f"   ({report.seconds:.0f} s)")
    add("")
    add("| measure | figure |")
    add("|---|---|")
    if report.ingest:
        i = report.ingest
        add(f"| ingest alone: `POST /v1/articles`, {a.ingest_connections} connections, closed loop, {a.ingest_seconds:g} s "
            f"| {fmt(i.rate, 0)} requests/s; p50 {fmt(percentile(i.latencies_ms, 0.5))} ms, "
            f"p99 {fmt(percentile(i.latencies_ms, 0.99))} ms ({i.errors} errors) |")
    for run in report.rates:
        add(f"| end to end at {run.rate:,.0f} stories/s for {a.rate_seconds:g} s, after {run.after_stories:,} stories "
            f"(POST to SSE arrival) "
            f"| p50 {fmt(run.pct(0.5))} / p95 {fmt(run.pct(0.95))} / p99 {fmt(run.pct(0.99))} ms; "
            f"{run.delivered:,} of {run.sent:,} delivered; {run.verdict()}. By stage, p50/p99 ms: {stage_text(run)}"
            + (f". CPU per story, µs: {cpu_text(run.cpu_per_story_us)}" if run.cpu_per_story_us else "") + " |")
    if report.pushed:
        p = report.pushed
        add(f"| end to end, {p.sent:,} stories at once ({a.push_connections} connections), after "
            f"{p.after_stories:,} stories "
            f"| {fmt(p.throughput, 0)} stories/s (first POST to last SSE arrival); {p.delivered:,} delivered"
            f"{p.rewrites_text()} |")
    c = report.confirmed
    if c is not None:
        found = f"{c.rate:,.0f} stories/s: {c.verdict()}" if c.sustained else (
            f"none confirmed: the last tried, {c.rate:,.0f} stories/s for {a.confirm_seconds:g} s, was not sustained "
            f"({c.verdict()})")
        add(f"| highest rate sustained (probes of {a.probe_seconds:g} s, confirmed for {a.confirm_seconds:g} s) "
            f"| {found}; lag p50 first fifth {fmt(c.first_p50_ms)} ms, last fifth "
            f"{fmt(c.last_p50_ms)} ms; p99 {fmt(c.pct(0.99))} ms |")
    else:
        add("| highest rate sustained | none of the probed rates |")
    if report.rss:
        add("| memory (RSS) at the end | " + ", ".join(f"{k} {v:.0f} MB" for k, v in report.rss.items()) + " |")
    if report.stored:
        add(f"| the server's dataset, per story filed through the pipeline | {stored_text(*report.stored)} |")
    if report.gc_pauses:
        add(f"| garbage collections that paused a service {GC_LOG_MS} ms or more, after start-up: how many, longest "
            "(wall time; its CPU time) | " + ", ".join(f"{k} {gc_pause_text(v)}" for k, v in report.gc_pauses.items()) + " |")
    if report.cpu_per_story_us:
        add("| CPU per story while pushed at once | "
            + ", ".join(f"{k} {v:,.0f} µs" for k, v in report.cpu_per_story_us.items()) + " |")
    add("")
    compare = next((r for r in report.rates if r.rate == a.compare_rate), None)
    if report.pushed and report.others:
        ours_tp = report.pushed.throughput
        ours_p99 = compare.pct(0.99) if compare else float("nan")
        add(f"Side by side, same run, same Redis server and stories. Throughput: stories pushed at once, first send to "
            f"last arrival. Latency: at {a.compare_rate:g} stories/s for {a.rate_seconds:g} s. Ratios are ours ÷ theirs "
            "(throughput above 1 and p99 below 1 favour the wire).")
        add("")
        add("| system | stories/s | p50 / p95 / p99 ms | ours ÷ it, stories/s | ours ÷ it, p99 |")
        add("|---|---:|---:|---:|---:|")
        p50 = compare.pct(0.5) if compare else float("nan")
        p95 = compare.pct(0.95) if compare else float("nan")
        add(f"| newswire: HTTP ingest, enrich, publish, SSE ({2 + a.enrich_workers} processes) | {fmt(ours_tp, 0)} | "
            f"{fmt(p50)} / {fmt(p95)} / {fmt(ours_p99)} | 1 | 1 |")
        for o in report.others:
            add(f"| {o.name} | {fmt(o.throughput, 0)} | {fmt(o.p50)} / {fmt(o.p95)} / {fmt(o.p99)} | "
                f"{fmt(ours_tp / o.throughput, 2)} | {fmt(ours_p99 / o.p99, 2)} |")
    return "\n".join(out)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds of each part (a smoke run, not figures)")
    parser.add_argument("--appendfsync", choices=["always", "everysec"], default="always",
                        help="the server's AOF policy (the wire's durability follows it); default always")
    parser.add_argument("--aof-rewrite-min-size", metavar="SIZE", default=None,
                        help="the started server's auto-aof-rewrite-min-size (e.g. 4gb); default the server's own, 64mb")
    parser.add_argument("--server-config", action="append", default=[], metavar="NAME=VALUE",
                        help="a further setting of the started server, e.g. rdbcompression=yes (repeatable)")
    parser.add_argument("--rewrite-during", type=float, default=None, metavar="RATE",
                        help="start one AOF rewrite (BGREWRITEAOF) a fifth of the way into the fixed-rate part at "
                             "RATE; with --aof-rewrite-min-size 64gb the only one in it: what a rewrite costs the tail")
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=None,
                        help="fixed end-to-end rates, stories/s (default 50,200,1000)")
    parser.add_argument("--rate-seconds", type=float, default=None)
    parser.add_argument("--confirm-seconds", type=float, default=None, help="the sustained run (default 60)")
    parser.add_argument("--probe-seconds", type=float, default=None)
    parser.add_argument("--search-start", type=float, default=200)
    parser.add_argument("--search-step", type=float, default=200)
    parser.add_argument("--search-ceiling", type=float, default=3000)
    parser.add_argument("--push", type=int, default=None, help="stories pushed at once through the wire")
    parser.add_argument("--peer-pools", default=None, help="Celery pools to try: prefork,solo,threads")
    parser.add_argument("--skip-others", action="store_true", help="only the wire (no floor, no peer)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--enrich-workers", type=int, default=2,
                        help="enrich processes in one consumer group (default 2, as docker-compose.yml runs them)")
    parser.add_argument("--profile", metavar="DIR", default=None,
                        help="record each service with py-spy at each fixed rate and while the stories pushed at once go through "
                             "(raw stacks, DIR/<part>-<service>.txt)")
    args = parser.parse_args(argv)
    if (args.aof_rewrite_min_size or args.server_config) and given_server():
        parser.error("--aof-rewrite-min-size and --server-config set the server the bench starts; the server named by "
                     "NEWSWIRE_BENCH_REDIS_URL or REDIS_URL keeps its own settings (CONFIG SET there)")
    if any("=" not in item for item in args.server_config):
        parser.error("--server-config takes NAME=VALUE, e.g. rdbcompression=yes")
    args.argv = sys.argv[1:] if argv is None else argv
    quick = args.quick
    defaults: dict[str, object] = {
        "rates": [50, 200, 1000], "rate_seconds": 1 if quick else 15, "confirm_seconds": 2 if quick else 60,
        "probe_seconds": 1 if quick else 10, "push": 300 if quick else 5000, "peer_pools": "prefork" if quick else
        "prefork,solo",
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if quick:
        args.search_ceiling = args.search_start  # one probe, then the confirming run
    args.ingest_seconds = 1 if quick else 10
    args.ingest_connections = 50
    args.push_connections = 64
    args.warmup_seconds = 0.5 if quick else 4
    args.drain_seconds = 60 if quick else 180
    args.distinct_stories = 500 if quick else 5000
    args.floor_stories = 1000 if quick else 20_000
    args.floor_enrich_stories = 200 if quick else 5000
    args.peer_stories = 100 if quick else 3000
    args.compare_rate = 50.0
    args.py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    return args


def given_server() -> str | None:
    """The server named for the bench (``NEWSWIRE_BENCH_REDIS_URL``, else ``REDIS_URL``), if any."""
    return os.environ.get("NEWSWIRE_BENCH_REDIS_URL") or os.environ.get("REDIS_URL")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    report = Report(args, load_start=load_average())
    started = time.perf_counter()
    given = given_server()
    with tempfile.TemporaryDirectory(prefix="newswire-bench-") as tmp, terminate_on_signals():
        children = Children(Path(tmp))
        config = {"auto-aof-rewrite-min-size": args.aof_rewrite_min_size} if args.aof_rewrite_min_size else {}
        config.update(item.split("=", 1) for item in args.server_config)
        server = None if given else RedisServer(Path(tmp) / "redis", appendfsync=args.appendfsync, config=config)
        try:
            if server is not None:
                server.start()
                url = server.url
            else:
                assert given is not None
                url = given
            described, args.appendfsync = describe_server(url)
            origin = f"started by the bench ({server.binary.name})" if server is not None else "named by REDIS_URL"
            report.redis_desc = (f"{described}, {origin}; one server for all three systems "
                                 "(wire, peer and floor on db numbers of their own)")
            pid = server.process.pid if server is not None and server.process is not None else None
            steps: list[Callable[[], None]] = [lambda: run_on_uvloop(run_ours(report, children, url, pid))]
            if not args.skip_others:
                steps += [lambda: run_floor(report, with_db(url, 2), enrich=False),
                          lambda: run_floor(report, with_db(url, 2), enrich=True)]
                steps += [lambda p=p: run_peer(report, children, with_db(url, 1), p)  # type: ignore[misc]
                          for p in args.peer_pools.split(",")]
            steps[0]()  # the wire itself: if it fails, there is nothing to compare
            for step in steps[1:]:
                try:
                    step()
                except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as exc:
                    report.failures.append(str(exc).splitlines()[0])  # a failed comparison still leaves the rest
                    log(f"failed: {exc}")
        except KeyboardInterrupt:
            log("interrupted: stopping everything")
            return 130
        finally:
            children.stop_all()
            if server is not None:
                server.stop()
    report.load_end = load_average()
    report.seconds = time.perf_counter() - started
    print(render(report))
    print(f"python: {platform.python_implementation()} {platform.python_version()}")
    for failure in report.failures:
        print(f"FAILED: {failure}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
