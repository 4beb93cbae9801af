"""Consumer groups on a real server: once-only effects, claiming, dead letters, unknown types."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog.testing
from redis.asyncio import Redis

import services.wire.worker
from schemas.codec import decode_event, encode_event
from schemas.events import AnyEvent, ArticleEnriched, ArticleFiled
from schemas.streams import Group, Stream, stream_key
from services.wire.eventlog import EventLog
from services.wire.redis_server import RedisServer
from services.wire.settings import Settings
from services.wire.worker import WORKERS_KEY, Call, Handler, NoReads, StreamWorker

FILED = stream_key(Stream.FILED)
ENRICHED = stream_key(Stream.ENRICHED)
DEAD = stream_key(Stream.DEAD)


def filed(headline: str) -> ArticleFiled:
    return ArticleFiled(
        event_id=str(uuid.uuid4()), article_id=f"urn:newswire:article:{uuid.uuid4()}", version=1,
        occurred_at=datetime.now(UTC), correlation_id="c", headline=headline, body_html="<p>text</p>",
    )


class EchoHandler(NoReads):
    """Turns a filing into an empty enrichment; fails on headlines that say so."""

    group = Group.ENRICH
    input = Stream.FILED
    defer_idle_acks = True

    def __init__(self, eventlog: EventLog) -> None:
        self.eventlog = eventlog
        self.calls: list[str] = []


    async def handle(self, event: AnyEvent, entry_id: str, partition: int) -> Call | None:
        assert isinstance(event, ArticleFiled)
        self.calls.append(event.headline)
        if "poison" in event.headline:
            raise ValueError(f"cannot enrich {event.headline!r}")
        out = ArticleEnriched(
            event_id=str(uuid.uuid4()), article_id=event.article_id, version=event.version,
            occurred_at=datetime.now(UTC), correlation_id=event.correlation_id,
            source_event_id=event.event_id, source_entry_id=entry_id,
        )
        return self.eventlog.append_once_args(Group.ENRICH, partition, source_event_id=event.event_id,
                                              input_entry_id=entry_id, output=out, out_stream=Stream.ENRICHED)


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(redis_url=redis_url, claim_idle_ms=200, claim_interval_ms=100, max_deliveries=3,
                    consumer_name=f"test-{uuid.uuid4().hex[:6]}", batch_size=10)


@pytest.fixture
async def eventlog(redis: Redis, settings: Settings) -> AsyncIterator[EventLog]:
    yield EventLog(redis, settings)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def append(redis: Redis, *events: ArticleFiled) -> list[str]:
    return [(await redis.xadd(FILED, encode_event(e))).decode() for e in events]  # type: ignore[arg-type]


async def test_poison_entry_is_dead_lettered_and_the_rest_goes_on(redis: Redis, eventlog: EventLog, settings: Settings) -> None:
    handler = EchoHandler(eventlog)
    worker = StreamWorker(eventlog, handler, settings)
    await worker.start()
    try:
        ids = await append(redis, filed("one"), filed("poison pill"), filed("three"))

        async def settled() -> bool:
            return await redis.xlen(DEAD) == 1 and (await redis.xpending(FILED, "enrich"))["pending"] == 0

        await eventually(settled)
    finally:
        await worker.stop()
    assert await redis.xlen(ENRICHED) == 2
    assert handler.calls.count("poison pill") == settings.max_deliveries
    dead = (await eventlog.dead_letters(0))[0]
    assert dead.entry_id == ids[1]
    assert dead.deliveries == settings.max_deliveries + 1
    assert "cannot enrich 'poison pill'" in dead.error


async def test_batches_and_claimed_entries_reach_the_handler_without_a_worker_thread(
        redis: Redis, eventlog: EventLog, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # FastStream's dependency injection looked up each message's context in a worker thread: a thread
    # hop for every batch read, about 200 µs of CPU (``python -m bench.dispatch``). The handlers take
    # the entries as read, so no batch (and no claimed entry) should use a thread.
    import anyio.to_thread

    hops: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Callable[..., object], *args: object, **kwargs: object) -> object:
        hops.append(func)
        return await run_sync(func, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    await eventlog.ensure_groups(Stream.FILED, Group.ENRICH)
    await append(redis, filed("left by a crashed consumer"))
    await redis.xreadgroup("enrich", "crashed-consumer", {FILED: ">"}, count=1)
    handler = EchoHandler(eventlog)
    worker = StreamWorker(eventlog, handler, settings)
    await worker.start()
    try:
        await append(redis, filed("one"), filed("two"))

        async def drained() -> bool:
            return await redis.xlen(ENRICHED) == 3 and (await redis.xpending(FILED, "enrich"))["pending"] == 0

        await eventually(drained)
    finally:
        await worker.stop()
    assert sorted(handler.calls) == ["left by a crashed consumer", "one", "two"]
    assert hops == []


async def test_a_redelivered_event_never_yields_a_second_output(redis: Redis, eventlog: EventLog, settings: Settings) -> None:
    handler = EchoHandler(eventlog)
    worker = StreamWorker(eventlog, handler, settings)
    await eventlog.ensure_groups(Stream.FILED, Group.ENRICH)
    event = filed("twice")
    (entry_id,) = await append(redis, event)
    fields = (await redis.xrange(FILED))[0][1]
    await worker.process(0, [(entry_id, fields)])
    await worker.process(0, [(entry_id, fields)])  # as after a crash before the ack
    rows = await redis.xrange(ENRICHED)
    assert len(rows) == 1
    out = decode_event(rows[0][1])
    assert isinstance(out, ArticleEnriched)
    assert out.source_event_id == event.event_id
    assert handler.calls == ["twice", "twice"]


async def test_a_batch_of_once_only_writes_is_one_round_trip_even_after_the_server_forgot_its_scripts(
        redis: Redis, eventlog: EventLog, settings: Settings) -> None:
    worker = StreamWorker(eventlog, EchoHandler(eventlog), settings)
    await eventlog.ensure_groups(Stream.FILED, Group.ENRICH)
    events = [filed(f"story {n}") for n in range(3)]
    ids = await append(redis, *events)
    rows = await redis.xrange(FILED)
    await redis.script_flush()  # as after a restart without the script cache
    await redis.config_resetstat()
    await worker.process(0, [(entry_id.decode(), fields) for entry_id, fields in rows])
    out = [decode_event(fields) for _, fields in await redis.xrange(ENRICHED)]
    assert [o.source_event_id for o in out if isinstance(o, ArticleEnriched)] == [e.event_id for e in events]
    assert (await redis.xpending(FILED, "enrich"))["pending"] == 0
    assert [o.source_entry_id for o in out if isinstance(o, ArticleEnriched)] == ids
    stats = await redis.info("commandstats")
    assert "cmdstat_script|exists" not in stats  # no check before the pipeline: the pipeline loads its scripts
    assert stats["cmdstat_evalsha"]["calls"] == 3
    assert stats["cmdstat_evalsha"]["failed_calls"] == 0


async def test_entries_of_a_dead_consumer_are_claimed(redis: Redis, eventlog: EventLog, settings: Settings) -> None:
    await eventlog.ensure_groups(Stream.FILED, Group.ENRICH)
    await append(redis, filed("a"), filed("b"), filed("c"))
    taken = await redis.xreadgroup("enrich", "crashed-consumer", {FILED: ">"}, count=10)
    assert len(taken[0][1]) == 3  # read, never acked: its process died
    handler = EchoHandler(eventlog)
    worker = StreamWorker(eventlog, handler, settings)
    await worker.start()
    try:
        async def drained() -> bool:
            return (await redis.xpending(FILED, "enrich"))["pending"] == 0

        await eventually(drained)
    finally:
        await worker.stop()
    assert sorted(handler.calls) == ["a", "b", "c"]
    assert await redis.xlen(ENRICHED) == 3


async def test_unknown_types_are_acked_and_skipped(redis: Redis, eventlog: EventLog, settings: Settings) -> None:
    handler = EchoHandler(eventlog)
    worker = StreamWorker(eventlog, handler, settings)
    await worker.start()
    try:
        await redis.xadd(FILED, {"type": "article.teleported.v9", "data": b"{}"})
        await redis.xadd(FILED, {"headline": "a foreign entry with no type"})
        await append(redis, filed("known"))
        await eventually(lambda: _len_is(redis, ENRICHED, 1))
        await eventually(lambda: _pending_is(redis, 0))
    finally:
        await worker.stop()
    assert handler.calls == ["known"]
    assert await redis.xlen(DEAD) == 0


async def _len_is(redis: Redis, key: str, n: int) -> bool:
    return bool(await redis.xlen(key) == n)


async def _pending_is(redis: Redis, n: int) -> bool:
    return bool((await redis.xpending(FILED, "enrich"))["pending"] == n)


async def test_readers_stopped_by_a_lost_group_are_restarted_and_read_on(
        redis: Redis, eventlog: EventLog, settings: Settings) -> None:
    handler = EchoHandler(eventlog)
    worker = StreamWorker(eventlog, handler, settings)
    await worker.start()
    try:
        await append(redis, filed("before"))
        await eventually(lambda: _len_is(redis, ENRICHED, 1))
        await redis.delete(FILED)  # as after a flush or a server that lost its data: the next read is NOGROUP

        async def readers_stopped() -> bool:
            return not any(sub.running for sub in worker.broker.subscribers)

        await eventually(readers_stopped)  # FastStream stops them for good
        await append(redis, filed("after"))  # the stream comes back, without the group
        await eventually(lambda: _len_is(redis, ENRICHED, 2), timeout=20)  # the heartbeat restarted them
        assert all(sub.running for sub in worker.broker.subscribers)
    finally:
        await worker.stop()
    assert handler.calls == ["before", "after"]



class SkippingHandler(EchoHandler):
    """Has no effect for filings whose headline says so (as the lifecycle reader skips filings)."""

    async def handle(self, event: AnyEvent, entry_id: str, partition: int) -> Call | None:
        if isinstance(event, ArticleFiled) and event.headline.startswith("skip"):
            self.calls.append(event.headline)
            return None
        return await super().handle(event, entry_id, partition)


async def read_as(redis: Redis, consumer: str) -> list[tuple[str, dict[bytes, bytes]]]:
    reply = await redis.xreadgroup("enrich", consumer, {FILED: ">"}, count=100)
    return [(entry_id.decode(), fields) for entry_id, fields in reply[0][1]]


async def test_acks_of_entries_without_effect_wait_for_the_next_write(redis: Redis, eventlog: EventLog,
                                                                      settings: Settings) -> None:
    handler = SkippingHandler(eventlog)
    worker = StreamWorker(eventlog, handler, settings)  # not started: batches are handed over below
    await eventlog.ensure_groups(Stream.FILED, Group.ENRICH)
    await append(redis, *(filed(f"skip {i}") for i in range(5)))
    await worker.process(0, await read_as(redis, "c1"))
    assert handler.calls == [f"skip {i}" for i in range(5)]
    assert (await redis.xpending(FILED, "enrich"))["pending"] == 5  # no write for entries without effect

    await append(redis, filed("news"))
    await worker.process(0, await read_as(redis, "c1"))
    assert (await redis.xpending(FILED, "enrich"))["pending"] == 0  # the waiting acks went with the effect
    assert await redis.xlen(ENRICHED) == 1

    await append(redis, filed("skip again"))
    await worker.process(0, await read_as(redis, "c1"))
    assert (await redis.xpending(FILED, "enrich"))["pending"] == 1
    assert await worker.write_idle_acks() == 1  # what the worker does every second, and at stop
    assert (await redis.xpending(FILED, "enrich"))["pending"] == 0


async def test_a_started_worker_writes_waiting_acks_on_its_own(redis: Redis, eventlog: EventLog, settings: Settings) -> None:
    worker = StreamWorker(eventlog, SkippingHandler(eventlog), settings)  # claim idle 200 ms: acks wait 50 ms at most
    await worker.start()
    try:
        await append(redis, *(filed(f"skip {i}") for i in range(3)))

        async def all_acked() -> bool:
            return await redis.xlen(FILED) == 3 and (await redis.xpending(FILED, "enrich"))["pending"] == 0

        await eventually(all_acked)
    finally:
        await worker.stop()
    assert await redis.xlen(DEAD) == 0  # waiting entries were never claimed and counted as failures


async def test_a_worker_stops_cleanly_when_redis_went_first(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")  # its own server: this test stops it
    server.start()
    client = Redis.from_url(server.url)
    settings = Settings(redis_url=server.url, consumer_name="going")
    eventlog = EventLog(client, settings)
    worker = StreamWorker(eventlog, SkippingHandler(eventlog), settings)
    try:
        await worker.start()
        await append(client, filed("skip this"))
        await eventually(lambda: _handled(worker.handler))
        server.stop()  # Ctrl-C reaches the server and the services at once
        await worker.stop()  # must not raise: the waiting ack and the unregistering are given up
    finally:
        server.stop()
        await client.aclose()


async def _handled(handler: Handler) -> bool:
    return bool(getattr(handler, "calls", None))


class LingeringHandler(EchoHandler):
    """Waits a second after each batch before the next read; records each batch's headlines."""

    linger_s = 1.0

    def __init__(self, eventlog: EventLog) -> None:
        super().__init__(eventlog)
        self.batches: list[list[str]] = []

    async def prefetch(self, events: Sequence[tuple[str, AnyEvent]], partition: int) -> None:
        self.batches.append([e.headline for _, e in events if isinstance(e, ArticleFiled)])


async def test_a_lingering_reader_takes_what_arrived_meanwhile_in_one_batch(redis: Redis, eventlog: EventLog,
                                                                           settings: Settings) -> None:
    handler = LingeringHandler(eventlog)
    worker = StreamWorker(eventlog, handler, settings)
    await worker.start()
    try:
        await append(redis, filed("first"))
        await eventually(lambda: _called(handler, 1))
        for headline in ("a", "b", "c"):  # one at a time, while the reader lingers after "first"
            await append(redis, filed(headline))
        await eventually(lambda: _called(handler, 4))
    finally:
        await worker.stop()
    assert handler.batches == [["first"], ["a", "b", "c"]]
    assert await redis.xlen(ENRICHED) == 4


async def _called(handler: EchoHandler, times: int) -> bool:
    return len(handler.calls) >= times


async def test_a_batch_whose_write_fails_is_logged_and_its_entries_are_claimed_and_written_later(
        redis: Redis, eventlog: EventLog, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    write = eventlog.run_append_once
    failures = [ConnectionError("Connection closed by server.")]

    async def failing_once(calls: Sequence[Call], acks: object) -> list[str]:
        if failures:
            raise failures.pop()
        return await write(calls, acks)  # type: ignore[arg-type]

    monkeypatch.setattr(eventlog, "run_append_once", failing_once)
    handler = EchoHandler(eventlog)
    worker = StreamWorker(eventlog, handler, settings)
    with structlog.testing.capture_logs() as logs:
        await worker.start()
        try:
            (entry_id,) = await append(redis, filed("written at the second try"))

            async def written() -> bool:
                return await redis.xlen(ENRICHED) == 1 and (await redis.xpending(FILED, "enrich"))["pending"] == 0

            await eventually(written)
        finally:
            await worker.stop()
    failed = [e for e in logs if e["event"] == "batch.failed"]
    assert len(failed) == 1
    assert failed[0]["log_level"] == "error"
    assert failed[0]["error"] == "ConnectionError: Connection closed by server."
    assert (failed[0]["group"], failed[0]["entries"], failed[0]["retry_after_ms"]) == ("enrich", 1, settings.claim_idle_ms)
    assert handler.calls == ["written at the second try"] * 2  # handled again when claimed
    assert [e["entry_id"] for e in logs if e["event"] == "entry.retried"] == [entry_id]


async def test_a_stopped_worker_leaves_no_consumer_behind_but_one_with_entries_pending_stays(
        redis: Redis, eventlog: EventLog, settings: Settings) -> None:
    handler = EchoHandler(eventlog)
    async with running(StreamWorker(eventlog, handler, settings)) as worker:
        await append(redis, filed("one"), filed("two"))
        await eventually(lambda: _called(handler, 2))
        assert worker.consumer in await _consumers(redis)
    left = await _consumers(redis)
    assert worker.consumer not in left and worker.consumer + "-claimer" not in left
    await append(redis, filed("three"))
    await redis.xreadgroup(Group.ENRICH.value, "crashed-elsewhere", {FILED: ">"}, count=1)
    await redis.xgroup_createconsumer(FILED, Group.ENRICH.value, "idle-elsewhere")
    assert await eventlog.forget_consumers(Group.ENRICH, ["crashed-elsewhere", "idle-elsewhere"]) == 1
    assert await _consumers(redis) == {"crashed-elsewhere": 1}  # its entry waits for a claimer


async def test_consumers_killed_workers_left_go_once_silent_with_nothing_pending_and_their_old_heartbeats_too(
        redis: Redis, eventlog: EventLog, settings: Settings) -> None:
    group = Group.ENRICH.value
    await eventlog.ensure_groups(Stream.FILED, Group.ENRICH)
    await append(redis, filed("one"), filed("two"))
    # A worker killed after its last ack, and its claimer; its last heartbeat is as old as its reads.
    (_, [(read, _)]), = await redis.xreadgroup(group, "enrich-killed", {FILED: ">"}, count=1)
    await redis.xack(FILED, group, read)
    await redis.xgroup_createconsumer(FILED, group, "enrich-killed-claimer")
    await redis.hset(WORKERS_KEY, "enrich-killed", int((time.time() - 5) * 1000))
    # One killed with an entry still pending: it waits for a claimer, and its name with it.
    await redis.xreadgroup(group, "enrich-crashed", {FILED: ">"}, count=1)
    # Silent, but their worker said it was live a moment ago (a quiet stream, a server that only counts
    # reads that return entries): they stay, its claimer too.
    await redis.xgroup_createconsumer(FILED, group, "enrich-quiet")
    await redis.xgroup_createconsumer(FILED, group, "enrich-quiet-claimer")
    # Old heartbeats: a killed worker of this group that never read (it goes), one of another group (stays).
    await redis.hset(WORKERS_KEY, "enrich-never-read", int((time.time() - 5) * 1000))
    await redis.hset(WORKERS_KEY, "publish-elsewhere", int((time.time() - 5) * 1000))
    await asyncio.sleep(1.2)
    await redis.hset(WORKERS_KEY, "enrich-quiet", int(time.time() * 1000))
    await redis.xgroup_createconsumer(FILED, group, "enrich-fresh")
    worker = StreamWorker(eventlog, EchoHandler(eventlog), settings)
    assert await worker.forget_gone_consumers(1.0) == ["enrich-killed", "enrich-killed-claimer"]
    assert await _consumers(redis) == {"enrich-crashed": 1, "enrich-quiet": 0, "enrich-quiet-claimer": 0, "enrich-fresh": 0}
    assert set(await redis.hkeys(WORKERS_KEY)) == {b"enrich-quiet", b"publish-elsewhere"}  # type: ignore[misc]
    assert await worker.forget_gone_consumers(1.0) == []


async def test_a_running_worker_removes_what_killed_workers_left_in_its_group(
        redis: Redis, eventlog: EventLog, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    await eventlog.ensure_groups(Stream.FILED, Group.ENRICH)
    await redis.xgroup_createconsumer(FILED, Group.ENRICH.value, "enrich-killed")
    await asyncio.sleep(0.6)
    monkeypatch.setattr(services.wire.worker, "GONE_S", 0.5)
    async with running(StreamWorker(eventlog, EchoHandler(eventlog), settings)) as worker:

        async def swept() -> bool:
            return "enrich-killed" not in await _consumers(redis)

        await eventually(swept)
        await redis.xgroup_createconsumer(FILED, Group.ENRICH.value, "enrich-killed-later")
        await asyncio.sleep(0.6)
        assert "enrich-killed-later" in await _consumers(redis)  # the next look is SWEEP_S later
        assert await worker.forget_gone_consumers(0.5) == ["enrich-killed-later"]  # its own names live on


@contextlib.asynccontextmanager
async def running(worker: StreamWorker) -> AsyncIterator[StreamWorker]:
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


async def _consumers(redis: Redis) -> dict[str, int]:
    return {c["name"].decode(): c["pending"] for c in await redis.xinfo_consumers(FILED, Group.ENRICH.value)}
