"""Fault drills: crash the wire's parts on purpose and count what partners receive.

    python -m bench.drills [--quick] [--stories 10000] [--outage-s 120] [--kill-rounds 1] [--seed N]
                           [--only kill,redis,empty,outage,poison,fuzz]

Each drill starts its own Redis server (AOF, ``appendfsync always``) and the three services as
processes, and prints PASS or FAIL with its counts; the command exits 1 if any drill fails.

- ``kill``: ``kill -9`` of one of two enrich processes (as ``docker-compose.yml`` runs them), then
  of publish, at seeded random moments while stories flow; every story reaches a webhook partner
  and an SSE partner, none lost, none twice.
- ``redis``: ``kill -9`` of the Redis server mid-run, restarted on the same port and data; every
  filing that got a ``202`` is on the log and delivered; meanwhile ingest answers ``503`` with
  ``Retry-After``, never ``500``; the services recover without being restarted.
- ``empty``: Redis replaced by an empty server on the same port (its data lost), at first with
  ``appendfsync everysec``; ingest refuses filings (``503``) until it fsyncs every write again; no
  service exits, every worker recreates its groups and reads on, and later stories are delivered.
- ``outage``: one webhook partner's endpoint down for ``--outage-s``; its backlog arrives in order
  afterwards, while the other partners get everything during the outage.
- ``poison``: an enriched event whose source is missing (publish fails on it every time) and a
  corrupt filed entry; each is dead-lettered after ``NEWSWIRE_MAX_DELIVERIES`` tries in every group
  that reads it and shown by ``newswire dead-letters``; the stories around them are delivered.
- ``fuzz``: schemathesis against the ingest and partner/admin APIs' OpenAPI descriptions, then
  oversize, malformed and script-laden bodies; no 5xx, and nothing the fuzzing filed makes a worker
  fail (see ``bench/drills_fuzz.py``).

``--quick`` runs everything at small scale (what the tests in ``tests/e2e/test_drills.py`` run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.drills_checks import (
    Result,
    Tally,
    check_deliveries,
    delivery_deadline,
    entry_key,
    probe_while_down,
    say,
    settle,
)
from bench.drills_wire import (
    DRILL_ENV,
    ROOT,
    SERVICES,
    DrillTimeout,
    DrillWire,
    Editor,
    SseFollower,
    close_drill,
    eventually,
    start_receiver,
    text,
)
from bench.receiver import Receiver
from schemas.codec import decode_event, encode_event
from schemas.events import ArticleEnriched, ArticleFiled, DeadLettered
from schemas.streams import Stream, partner_key, stream_key
from services.wire.eventlog import EventLog, as_entries
from services.wire.settings import Settings

QUICK_RETRY_SCHEDULE = "1s,2s,3s,5s,10s,20s,30s,60s"


@dataclass(frozen=True)
class Plan:
    stories: int = 10_000
    outage_s: float = 120.0
    redis_down_s: float = 5.0
    seed: int = 0
    retry_schedule: str | None = None  # None: the product's default schedule
    fuzz_examples: int = 100
    poison_stories: int = 200
    kill_rounds: int = 1  # kills of enrich then publish in the kill drill
    outage_kill: bool = True  # kill -9 publish half-way through the partner's outage

    @classmethod
    def quick(cls, seed: int) -> Plan:
        return cls(stories=300, outage_s=8.0, redis_down_s=3.0, seed=seed, retry_schedule=QUICK_RETRY_SCHEDULE,
                   fuzz_examples=25, poison_stories=40)


# -- the drills ----------------------------------------------------------------------------------

async def drill_kill(workdir: Path, plan: Plan) -> Result:
    result = Result("kill -9 one of two enrich processes, then publish")
    rng = random.Random(plan.seed)
    wire = DrillWire(workdir / "kill")
    await wire.open()
    receiver = await start_receiver()
    follower: SseFollower | None = None
    try:
        await wire.register("drill-hook", ["webhook"], receiver.url("/hook"))
        hook = Tally(receiver, "/hook")
        follower = SseFollower(wire.partner_url, await wire.register("drill-sse", ["sse"]))
        for name in (*SERVICES, "enrich-2"):  # two enrich processes in one group, as deployed; "enrich" is killed
            wire.start(name)
        await wire.wait_ready()
        follower.start()
        editor = Editor(wire)
        filing = asyncio.create_task(editor.file_many(range(plan.stories), concurrency=4))
        moments = [("enrich", rng.uniform(0.1, 0.4), rng.uniform(0.1, 2.0)),
                   ("publish", rng.uniform(0.5, 0.8), rng.uniform(0.1, 2.0))]
        if plan.kill_rounds > 1:  # more kills, alternating, spread over the run
            points = sorted(rng.uniform(0.05, 0.9) for _ in range(2 * plan.kill_rounds))
            moments = [(("enrich", "publish")[i % 2], p, rng.uniform(0.1, 2.0)) for i, p in enumerate(points)]
        for name, fraction, down_s in moments:
            at = max(1, int(plan.stories * fraction))
            await eventually(lambda at=at: len(hook.uris()) >= at,  # type: ignore[misc]
                             delivery_deadline(plan.stories), f"{at} stories delivered before the kill of {name}")
            filed_so_far = len(editor.accepted())
            pid = wire.kill(name)
            say(f"  kill -9 {name} (pid {pid}) after {at} webhook deliveries, {filed_so_far} filed; "
                f"restarted {down_s:.2f}s later")
            await asyncio.sleep(down_s)
            wire.start(name)
        await filing
        expected = {f.article_id for f in editor.accepted()}
        result.check(len(expected) == plan.stories, f"only {len(expected)} of {plan.stories} filings were accepted")
        await eventually(lambda: expected <= hook.uris() and expected <= follower.uris(),
                         delivery_deadline(plan.stories), "every story at both partners")
        await settle(wire, 2 * int(DRILL_ENV["NEWSWIRE_CLAIM_IDLE_MS"]) / 1000)
        check_deliveries(result, expected, hook.count(), follower)
        result.check(not wire.exited(), f"services exited: {wire.exited()}")
    except DrillTimeout as exc:
        result.failures.append(str(exc))
    finally:
        await close_drill(wire, follower, receiver)
    return result


async def drill_redis(workdir: Path, plan: Plan) -> Result:
    result = Result("kill -9 Redis, restart")
    rng = random.Random(plan.seed + 1)
    wire = DrillWire(workdir / "redis")
    await wire.open()
    receiver = await start_receiver()
    follower: SseFollower | None = None
    stories = max(100, plan.stories // 10)
    try:
        await wire.register("drill-hook", ["webhook"], receiver.url("/hook"))
        hook = Tally(receiver, "/hook")
        follower = SseFollower(wire.partner_url, await wire.register("drill-sse", ["sse"]))
        for name in SERVICES:
            wire.start(name)
        await wire.wait_ready()
        follower.start()
        editor = Editor(wire)
        # Half the stories at once (a backlog for the workers), then a steady flow that spans the outage:
        # it goes on until Redis is back and at least ``stories`` have been filed.
        burst = stories // 2
        await editor.file_many(range(burst), concurrency=4)
        enough = asyncio.Event()
        filing = asyncio.create_task(editor.file_many(range(burst, burst + 1_000_000), concurrency=4, rate=40.0,
                                                      until=enough))
        kill_after = rng.randint(burst // 5, burst // 2)
        await eventually(lambda: len(hook.uris()) >= kill_after, delivery_deadline(stories),
                         f"{kill_after} webhook deliveries before the kill")
        accepted_at_kill = len(editor.accepted())
        delivered_at_kill = len(hook.uris())
        statuses_at_kill = Counter(editor.statuses)
        wire.kill_redis()
        killed_at = time.monotonic()
        say(f"  kill -9 Redis after {accepted_at_kill} accepted filings and {delivered_at_kill} webhook deliveries; "
            f"down for {plan.redis_down_s:.1f}s")
        down_until = time.monotonic() + plan.redis_down_s
        probes = await probe_while_down(wire, follower.token, editor.accepted()[0].article_id)
        await asyncio.sleep(max(0.0, down_until - time.monotonic()))
        statuses_while_down = dict(Counter(editor.statuses) - statuses_at_kill)
        wire.restart_redis()
        down_for = time.monotonic() - killed_at
        say(f"  Redis restarted on port {wire.server.port} after {down_for:.1f}s down")
        await wire.r.connection_pool.disconnect()
        before = {f.key for f in editor.accepted()}
        took_ingest = await eventually(lambda: any(f.key not in before for f in editor.accepted()), 120,
                                       "a 202 after the restart")
        delivered_before = len(follower.got)
        took_delivery = await eventually(lambda: len(follower.got) > delivered_before, 120,
                                         "a delivery after the restart")
        await eventually(lambda: len(editor.filings) >= stories, stories / 10 + 60, f"{stories} filings")
        enough.set()
        await filing
        expected = {f.article_id for f in editor.accepted()}
        refused = [f for f in editor.filings if f.status != 202]
        result.check(not refused, f"{len(refused)} filings ended without a 202, e.g. {refused[:3]}")
        on_log = set()
        for _, fields in as_entries(await wire.r.xrange(stream_key(Stream.FILED))):
            event = decode_event(fields)
            if isinstance(event, ArticleFiled):
                on_log.add(event.article_id)
        lost = expected - on_log
        result.check(not lost, f"{len(lost)} filings answered 202 are not on the log after the restart")
        await eventually(lambda: expected <= hook.uris() and expected <= follower.uris(),
                         delivery_deadline(stories), "every accepted story at both partners")
        await settle(wire, 2 * int(DRILL_ENV["NEWSWIRE_CLAIM_IDLE_MS"]) / 1000)
        check_deliveries(result, expected, hook.count(), follower)
        result.figures.update({
            "accepted_before_kill": accepted_at_kill,
            "delivered_before_kill": delivered_at_kill,
            "redis_down_s": round(down_for, 1),
            "answers": dict(sorted(editor.statuses.items())),
            "answers_while_down": dict(sorted(statuses_while_down.items())),
            "first_202_after_restart_s": round(took_ingest, 2),
            "first_delivery_after_restart_s": round(took_ingest + took_delivery, 2),
        })
        result.check(statuses_while_down.get(503, 0) > 0, "ingest never answered 503 while Redis was down")
        result.figures["other_routes_while_down"] = dict(Counter(probes.values()))
        result.check(all(status == 503 for status in probes.values()), f"answers while Redis was down: {probes}")
        result.check(all(s in (202, 503) for s in editor.statuses), f"answers other than 202/503: {editor.statuses}")
        result.check(editor.retry_after_missing == 0, f"{editor.retry_after_missing} 503s without Retry-After")
        result.check(editor.transport_errors == 0, f"{editor.transport_errors} requests got no HTTP answer")
        result.check(not wire.exited(), f"services exited instead of recovering: {wire.exited()}")
    except DrillTimeout as exc:
        result.failures.append(str(exc))
    finally:
        await close_drill(wire, follower, receiver)
    return result


async def drill_outage(workdir: Path, plan: Plan) -> Result:
    result = Result(f"webhook partner down {plan.outage_s:g}s")
    extra = {"NEWSWIRE_WEBHOOK_RETRY_SCHEDULE": plan.retry_schedule} if plan.retry_schedule else {}
    wire = DrillWire(workdir / "outage", extra)
    await wire.open()
    down = await start_receiver()
    up = await start_receiver()
    back: Receiver | None = None
    follower: SseFollower | None = None
    try:
        await wire.register("drill-down", ["webhook"], down.url("/down"))
        await wire.register("drill-up", ["webhook"], up.url("/up"))
        follower = SseFollower(wire.partner_url, await wire.register("drill-sse", ["sse"]))
        for name in SERVICES:
            wire.start(name)
        await wire.wait_ready()
        follower.start()
        port = down.port
        await down.stop()  # the port now refuses connections
        outage_started = time.monotonic()
        rate = 5.0
        editor = Editor(wire)
        filing = asyncio.create_task(editor.file_many(range(max(10, int(plan.outage_s * rate))), concurrency=2, rate=rate))
        if plan.outage_kill:  # the partner's queue and retry state must outlive its delivering process
            await asyncio.sleep(plan.outage_s / 2)
            say(f"  kill -9 publish (pid {wire.kill('publish')}) half-way through the outage; restarted")
            wire.start("publish")
        await filing
        expected = {f.article_id for f in editor.accepted()}
        healthy = Tally(up, "/up")
        await eventually(lambda: expected <= healthy.uris() and expected <= follower.uris(),
                         max(0.0, outage_started + plan.outage_s - time.monotonic()) + 60,
                         "the healthy partners have everything while the other is down")
        healthy_done = time.monotonic() - outage_started
        await asyncio.sleep(max(0.0, outage_started + plan.outage_s - time.monotonic()))
        attempts = await wire.r.xlen(partner_key("drill-down", "log"))
        back = await Receiver(port=port).start()
        back_at = time.monotonic()
        say(f"  endpoint back after {back_at - outage_started:.1f}s down; {len(expected)} items queued for it")
        returned = Tally(back, "/down")
        took = await eventually(lambda: expected <= returned.uris(), 600, "the backlog at the partner that was down")
        await settle(wire, 2 * int(DRILL_ENV["NEWSWIRE_CLAIM_IDLE_MS"]) / 1000)
        backlog = returned.count()
        healthy_count = healthy.count()
        check_deliveries(result, expected, healthy_count, follower)
        result.check(set(backlog.uris) == expected and all(len(v) == 1 for v in backlog.uris.values()),
                     "the backlog is not every item exactly once")
        result.check(backlog.ids == healthy_count.ids, "the backlog arrived in another order than the healthy partner's")
        result.check(backlog.ids == sorted(backlog.ids, key=entry_key), "the backlog arrived out of publication order")
        result.figures.update({
            "healthy_partners_complete_after_s": round(healthy_done, 1),
            "failed_attempts_while_down": attempts,
            "backlog": len(backlog.ids),
            "backlog_complete_after_back_s": round(took, 1),
            "retry_schedule": plan.retry_schedule or "default",
        })
    except DrillTimeout as exc:
        result.failures.append(str(exc))
    finally:
        await close_drill(wire, follower, down, up, back)
    return result


async def drill_empty(workdir: Path, plan: Plan) -> Result:
    """Redis killed and replaced by an empty server on the same port (a lost disk, a failover to an empty replica)."""
    result = Result("Redis back without its data")
    wire = DrillWire(workdir / "empty")
    await wire.open()
    receiver = await start_receiver()
    followers: list[SseFollower] = []
    stories = max(50, plan.stories // 20)
    try:
        await wire.register("drill-hook", ["webhook"], receiver.url("/before"))
        followers.append(SseFollower(wire.partner_url, await wire.register("drill-sse", ["sse"])))
        for name in SERVICES:
            wire.start(name)
        await wire.wait_ready()
        followers[0].start()
        before = Editor(wire)
        await before.file_many(range(stories), concurrency=4)
        earlier = Tally(receiver, "/before")
        await eventually(lambda: len(earlier.uris()) == len(followers[0].uris()) == stories,
                         delivery_deadline(stories), "the stories before the loss at both partners")
        wire.kill_redis()
        shutil.rmtree(wire.redis_dir)
        wire.restart_redis(appendfsync="everysec")  # and, at first, one that does not fsync every write
        await wire.r.connection_pool.disconnect()
        say(f"  Redis replaced by an empty server (appendfsync everysec) on port {wire.server.port} after {stories} stories")
        # What operators do after losing the server: credentials and partners again.
        await wire.issue_keys()
        await wire.register("drill-hook", ["webhook"], receiver.url("/after"))
        followers.append(SseFollower(wire.partner_url, await wire.register("drill-sse", ["sse"])))
        followers[1].last_id = followers[0].last_id  # the partner resumes where it was
        followers[1].start()
        after = Editor(wire)
        enough = asyncio.Event()  # a steady flow: ingest checks the server again within 5 s
        filing = asyncio.create_task(after.file_many(range(1_000_000), concurrency=4, rate=20.0, prefix="after",
                                                     until=enough))
        await eventually(lambda: after.unavailable.get("durability", 0) > 0, 60,
                         "ingest refusing filings on a server that does not fsync every write")
        weak_202s = len(after.accepted())
        await wire.r.config_set("appendfsync", "always")  # what the operator fixes
        await eventually(lambda: len(after.accepted()) >= stories, stories / 5 + 60, f"{stories} filings after the loss")
        enough.set()
        await filing
        result.figures.update({"durability_503s": after.unavailable.get("durability", 0),
                               "202s_before_the_recheck": weak_202s})
        expected = {f.article_id for f in after.accepted()}
        result.check(all(f.status == 202 for f in after.filings), "filings after the loss that ended without a 202")
        later = Tally(receiver, "/after")
        took = await eventually(lambda: expected <= later.uris() and expected <= followers[1].uris(),
                                delivery_deadline(stories), "the stories after the loss at both partners")
        await settle(wire, 2 * int(DRILL_ENV["NEWSWIRE_CLAIM_IDLE_MS"]) / 1000)
        check_deliveries(result, expected, later.count(), followers[1])
        restarted = sorted(_readers_restarted(wire))
        result.check(restarted == ["enrich", "lifecycle", "publish", "webhooks"],
                     f"groups whose readers were restarted: {restarted}")
        result.figures.update({"before_loss": stories, "readers_restarted": restarted,
                               "all_delivered_after_s": round(took, 1)})
        result.check(not wire.exited(), f"services exited instead of recovering: {wire.exited()}")
    except DrillTimeout as exc:
        result.failures.append(str(exc))
    finally:
        await close_drill(wire, *followers, receiver)
    return result


def _readers_restarted(wire: DrillWire) -> set[str]:
    """The groups whose workers logged restarting their readers (JSON log lines)."""
    groups = set()
    for service in ("enrich", "publish"):
        for line in (wire.workdir / f"{service}.log").read_text(errors="replace").splitlines():
            if '"worker.readers_restarted"' in line:
                groups.add(str(json.loads(line).get("group")))
    return groups


async def drill_poison(workdir: Path, plan: Plan) -> Result:
    result = Result("poison messages")
    wire = DrillWire(workdir / "poison")
    await wire.open()
    follower: SseFollower | None = None
    max_deliveries = Settings().max_deliveries
    try:
        follower = SseFollower(wire.partner_url, await wire.register("drill-sse", ["sse"]))
        for name in SERVICES:
            wire.start(name)
        await wire.wait_ready()
        follower.start()
        editor = Editor(wire)
        half = plan.poison_stories // 2
        await editor.file_many(range(half), concurrency=2)
        # Publish fails on this one every time: it enriches a filed entry the log does not have.
        poison = ArticleEnriched(event_id=str(uuid.uuid4()), article_id=f"urn:newswire:article:{uuid.uuid4()}",
                                 version=1, occurred_at=datetime.now(UTC), correlation_id="drill-poison",
                                 source_event_id=str(uuid.uuid4()), source_entry_id="1-0")
        poison_id = text(await wire.r.xadd(stream_key(Stream.ENRICHED), encode_event(poison)))  # type: ignore[arg-type]
        # And enrich cannot even decode this one.
        corrupt_id = text(await wire.r.xadd(stream_key(Stream.FILED), {"type": "article.filed.v1", "data": b'{"headline": '}))
        say(f"  poison enriched entry {poison_id}, corrupt filed entry {corrupt_id}")
        await editor.file_many(range(half, plan.poison_stories), concurrency=2)
        expected = {f.article_id for f in editor.accepted()}
        dead_stream = stream_key(Stream.DEAD)
        await eventually(lambda: expected <= follower.uris(), delivery_deadline(plan.poison_stories),
                         "every story around the poison delivered")
        await eventually(_xlen_at_least(wire, dead_stream, 3), 120 + 10 * max_deliveries, "the entries dead-lettered")
        await settle(wire, 2 * int(DRILL_ENV["NEWSWIRE_CLAIM_IDLE_MS"]) / 1000)
        dead = {(d.group, d.entry_id): d for d in await _dead_letters(wire)}
        # The corrupt filed entry fails in both groups that read the filed stream: enrich and publish's lifecycle.
        wanted = {("publish", poison_id), ("enrich", corrupt_id), ("lifecycle", corrupt_id)}
        result.check(set(dead) == wanted, f"dead letters {sorted(dead)}, wanted {sorted(wanted)}")
        tries = {f"{group}:{entry_id}": _failures_logged(wire, group, entry_id) for group, entry_id in sorted(wanted)}
        result.check(set(tries.values()) == {max_deliveries}, f"tries before dead-lettering {tries}, wanted {max_deliveries}")
        result.check(all(d.deliveries == max_deliveries + 1 for d in dead.values()),
                     f"delivery counts {[d.deliveries for d in dead.values()]}")
        result.check(poison.article_id not in follower.uris(), "the poison's article was delivered")
        shown = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services.wire.cli", "dead-letters"],
                                        env=wire.env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        result.check(shown.returncode == 0, f"newswire dead-letters exited {shown.returncode}: {shown.stderr[-500:]}")
        shown_lines = shown.stdout.splitlines()
        for group, entry_id in sorted(wanted):
            needle = "MissingSource" if group == "publish" else "undecodable entry"
            line = next((ln for ln in shown_lines if f" {entry_id} group={group} " in ln), "")
            result.check(needle in line and f"deliveries={max_deliveries + 1}" in line,
                         f"newswire dead-letters does not show {group} {entry_id} with {needle!r}: {shown.stdout[-800:]!r}")
        result.check(len(follower.got) == len(expected), f"{len(follower.got)} SSE events for {len(expected)} stories")
        result.figures.update({"stories": len(expected), "delivered": len(follower.uris()), "dead_letters": len(dead),
                               "tries": tries, "shown_by_cli": len(shown_lines)})
        result.check(not wire.exited(), f"services exited: {wire.exited()}")
    except DrillTimeout as exc:
        result.failures.append(str(exc))
    finally:
        await close_drill(wire, follower)
    return result


def _xlen_at_least(wire: DrillWire, key: str, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await wire.r.xlen(key) >= n)

    return check


async def _dead_letters(wire: DrillWire) -> list[DeadLettered]:
    return await EventLog(wire.r, Settings(redis_url=wire.redis_url)).dead_letters(0)


def _failures_logged(wire: DrillWire, group: str, entry_id: str) -> int:
    """How many times a group's worker logged a failure on ``entry_id`` (JSON log lines)."""
    service = "enrich" if group == "enrich" else "publish"
    count = 0
    for line in (wire.workdir / f"{service}.log").read_text(errors="replace").splitlines():
        if '"entry.failed"' in line:
            record = json.loads(line)
            count += record.get("group") == group and record.get("entry_id") == entry_id
    return count


async def drill_fuzz(workdir: Path, plan: Plan) -> Result:
    from bench.drills_fuzz import run_fuzz_drill

    result: Result = await run_fuzz_drill(workdir / "fuzz", plan.fuzz_examples)
    return result


def show_logs(folder: Path) -> None:
    for service in (*SERVICES, "enrich-2"):
        log = folder / f"{service}.log"
        if log.exists():
            say(f"  --- last lines of {service}.log ---\n{log.read_text(errors='replace')[-1500:]}")


DRILLS: dict[str, Callable[[Path, Plan], Awaitable[Result]]] = {
    "kill": drill_kill, "redis": drill_redis, "empty": drill_empty, "outage": drill_outage, "poison": drill_poison,
    "fuzz": drill_fuzz,
}


async def run(plan: Plan, only: list[str]) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="newswire-drills-") as tmp:
        for name in only:
            say(f"{name}: running")
            started = time.monotonic()
            outcome = await DRILLS[name](Path(tmp), plan)
            outcome.figures["took_s"] = round(time.monotonic() - started, 1)
            say(outcome.report())
            if not outcome.ok:
                show_logs(Path(tmp, name))
            results.append(outcome)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scale: 300 stories, an 8 s outage, short retries")
    parser.add_argument("--stories", type=int, help="stories in the kill drill (the Redis drill files a tenth)")
    parser.add_argument("--outage-s", type=float, help="how long the partner endpoint is down")
    parser.add_argument("--redis-down-s", type=float, help="how long the Redis server stays down")
    parser.add_argument("--fuzz-examples", type=int, help="schemathesis examples per operation and mode")
    parser.add_argument("--retry-schedule", help="NEWSWIRE_WEBHOOK_RETRY_SCHEDULE for the outage drill")
    parser.add_argument("--kill-rounds", type=int, help="kill enrich then publish this many times (default once)")
    parser.add_argument("--seed", type=int, help="seed of the random kill moments (printed; rerun with it)")
    parser.add_argument("--only", default=",".join(DRILLS), help=f"comma-separated drills of {', '.join(DRILLS)}")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    plan = Plan.quick(seed) if args.quick else Plan(seed=seed)
    changes = {"stories": args.stories, "outage_s": args.outage_s, "redis_down_s": args.redis_down_s,
               "fuzz_examples": args.fuzz_examples, "retry_schedule": args.retry_schedule,
               "kill_rounds": args.kill_rounds}
    plan = Plan(**{**plan.__dict__, **{k: v for k, v in changes.items() if v is not None}})
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in only if name not in DRILLS]
    if unknown:
        parser.error(f"unknown drills {unknown}; choose from {', '.join(DRILLS)}")
    say(f"seed {plan.seed} (rerun with --seed {plan.seed}); {plan}")
    say("drill settings: " + " ".join(f"{k}={v}" for k, v in DRILL_ENV.items()))
    results = asyncio.run(run(plan, only))
    failed = [r.name for r in results if not r.ok]
    say(f"{len(results) - len(failed)} of {len(results)} drills passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
