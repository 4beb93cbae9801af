"""The consuming side of every worker: consumer groups, batches, claiming and dead letters.

A worker kind supplies a :class:`Handler`; this module runs it on FastStream subscribers:

- one batch subscriber per partition reads new entries (``XREADGROUP COUNT batch_size``);
- one claimer per partition takes over entries left pending by a failure or a dead consumer
  (``XAUTOCLAIM`` after ``claim_idle_ms``), and parks an entry on the dead-letter stream once
  it has been delivered more than ``max_deliveries`` times;
- acks are manual: an entry is acked in the same Lua script that writes its output, so a crash
  between the two cannot lose or repeat an effect;
- a batch's effects are written together, in one pipeline, when the whole batch has been handled
  (writing them as the batch goes makes the batches downstream smaller, and per-batch work made
  publish's CPU per story grow more than the early stories gained);
- an entry that has no effect (a filing the lifecycle reader skips, a type a worker does not know)
  only needs its ack. A handler with ``defer_idle_acks`` lets those acks wait, up to
  ``IDLE_ACK_DELAY_S`` (or a quarter of the claim idle time, if shorter), for the next write of an
  effect or for one pipeline of all that waited: under ``appendfsync always`` every write is an
  fsync, and a reader that skips nearly every entry would otherwise write once per entry. A crash
  before they are written leaves the entries pending; they are claimed later and skipped again;
- a handler with ``linger_s`` waits that long after each batch before it reads again, so that the
  entries of a busy stream arrive in batches: a reader that has an effect for few entries (the
  lifecycle reader of filings) or whose effects may come a little later (the webhook fan-out) then
  pays for a read, its dispatch and its acks once per batch instead of once per story.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, Self

import msgspec
import structlog
from faststream import AckPolicy
from faststream.redis import RedisBatchStreamMessage, RedisBroker, RedisClusterBroker, RedisStreamMessage, StreamSub

from schemas.codec import decode_event
from schemas.events import AnyEvent
from schemas.streams import Group, Stream, registry_key, stream_key
from services.wire.background import Background
from services.wire.eventlog import EventLog, ScriptCall, as_text
from services.wire.settings import Settings

log = structlog.get_logger()

EV_BATCH_FAILED = "batch.failed"
IDLE_ACK_DELAY_S = 1.0  # longest an ack of an entry without effect waits (with defer_idle_acks)
WORKERS_KEY = registry_key("workers")  # consumer name -> last-seen time (ms), for health and status
CLAIMER = "-claimer"  # a worker's claimer reads as <consumer>-claimer
LIVE_S = 30.0  # a heartbeat older than this is a worker that stopped (``newswire health`` and ``status``)
GONE_S = 600.0  # a consumer silent this long with nothing pending is one a killed worker left: removed
SWEEP_S = 60.0  # how often a worker looks for such consumers in its group

Fields = Mapping[bytes, bytes]
Call = ScriptCall


class Handler(Protocol):
    """What a worker kind does with one event; adapters implement it, cores stay pure."""

    group: Group
    input: Stream
    # Acks of entries without effect may wait (see the module docstring). Not for a reader whose
    # pending entries mean "not done yet" to another process (the webhook fan-out's order check).
    defer_idle_acks: bool
    # Seconds to wait after each batch before the next read (0: read again at once). Entries that
    # arrive meanwhile wait for the next batch, so this adds up to that much to their latency.
    linger_s: float

    async def before_batch(self, partition: int) -> None:
        """Bring read-side state up to date before a batch (e.g. an index projection)."""

    async def prefetch(self, events: Sequence[tuple[str, AnyEvent]], partition: int) -> None:
        """Prepare what ``handle`` will need for a whole batch at once, before the batch is handled: reads
        in one round trip, or work that is cheaper done for the batch together (a handler with nothing
        to prepare returns at once; ``handle`` must not rely on it)."""

    async def handle(self, event: AnyEvent, entry_id: str, partition: int) -> Call | None:
        """The append-once call that records this event's effect, or None if it has none."""

    async def in_background(self) -> None:
        """Work beside the batches for as long as the worker runs (e.g. keeping a projection in step
        while no batch comes); cancelled when the worker stops. A handler with none returns at once."""


class NoReads:
    """The read hooks of a :class:`Handler` that needs none, and no linger: a handler subclasses it
    and writes only the hooks it uses."""

    linger_s = 0.0

    async def before_batch(self, partition: int) -> None:
        return None

    async def prefetch(self, events: Sequence[tuple[str, AnyEvent]], partition: int) -> None:
        return None

    async def in_background(self) -> None:
        return None


class _StreamSub(StreamSub):
    """A ``StreamSub`` that FastStream need not deep-copy: with no prefix, it is its own prefixed copy.
    (FastStream asks for the prefixed copy on every read and for every message's log context.)"""

    def add_prefix(self, prefix: str) -> Self:
        return self if not prefix else super().add_prefix(prefix)


async def _as_read(msg: RedisStreamMessage | RedisBatchStreamMessage) -> Mapping[str, Any]:
    """The decoder of every subscriber: the handler's one argument is the entry or batch as read
    (ids and fields), which :meth:`StreamWorker.process` decodes itself."""
    raw: Mapping[str, Any] = msg.raw_message  # type: ignore[assignment]
    return raw


class StreamWorker:
    """Runs a :class:`Handler` over every partition of its input stream."""

    def __init__(self, eventlog: EventLog, handler: Handler, settings: Settings,
                 broker: RedisBroker | RedisClusterBroker | None = None) -> None:
        """``broker``: the FastStream broker to read with (by default one server at ``settings.redis_url``;
        a ``RedisClusterBroker`` reads a cluster, with ``eventlog`` on a cluster client). A broker given
        here is made with ``apply_types=False``: the handlers take the entries as read."""
        self.eventlog = eventlog
        self.handler = handler
        self.settings = settings
        self.consumer = f"{handler.group.value}-{settings.consumer_name}"
        # We log ourselves; and the handlers take the batch as read, so FastStream's dependency injection
        # (which ran the message's context lookup in a worker thread: about 200 µs of CPU a batch) is off.
        self.broker = broker or RedisBroker(settings.redis_url, logger=None, apply_types=False)  # type: ignore[arg-type]
        self._heartbeat = Background()
        self._next_sweep = 0.0  # monotonic time of the next look for consumers killed workers left
        self._idle_acks: dict[int, list[str]] = {}  # partition -> acks waiting (defer_idle_acks)
        self._idle_ack_writer = Background()
        self._background = Background()
        for partition in eventlog.partitions():
            self._subscribe(partition)

    def _subscribe(self, partition: int) -> None:
        stream = stream_key(self.handler.input, partition)
        group = self.handler.group.value
        reader = _StreamSub(
            stream, group=group, consumer=self.consumer, batch=True,
            max_records=self.settings.batch_size, polling_interval=500,
        )
        claimer = _StreamSub(
            stream, group=group, consumer=self.consumer + CLAIMER,
            min_idle_time=self.settings.claim_idle_ms, polling_interval=self.settings.claim_interval_ms,
        )

        async def parse_batch(message: Mapping[str, Any]) -> RedisBatchStreamMessage:
            """The batch as read, without FastStream's body: :meth:`process` decodes the entries' fields
            itself, so turning every entry into JSON and decoding that again would be wasted work."""
            return RedisBatchStreamMessage(raw_message=message, body=b"", group=group,  # type: ignore[arg-type]
                                           consumer=self.eventlog.redis)  # type: ignore[arg-type]

        async def on_batch(batch: Mapping[str, Any]) -> None:
            ids = batch["message_ids"]
            rows = batch["data"]
            with self._failure_logged(partition, len(ids)):
                await self.process(partition, [(as_text(i), f) for i, f in zip(ids, rows, strict=True)])
            if self.handler.linger_s:
                await asyncio.sleep(self.handler.linger_s)  # the next read finds the entries of this while

        async def on_claimed(claimed: Mapping[str, Any]) -> None:
            entry_id = as_text(claimed["message_ids"][0])
            fields = claimed.get("data") or {}
            with self._failure_logged(partition, 1):
                await self.process_claimed(partition, entry_id, fields)

        self.broker.subscriber(stream=reader, ack_policy=AckPolicy.MANUAL, include_in_schema=False,
                               parser=parse_batch, decoder=_as_read)(on_batch)
        self.broker.subscriber(stream=claimer, ack_policy=AckPolicy.MANUAL, include_in_schema=False,
                               decoder=_as_read)(on_claimed)

    @contextmanager
    def _failure_logged(self, partition: int, entries: int) -> Iterator[None]:
        """Log a batch that failed as a whole (its catch-up read or its write, e.g. with Redis away), then
        let it go on up: FastStream, run without a logger, would drop it silently. Its entries stay
        pending and are claimed again after ``claim_idle_ms``."""
        try:
            yield
        except Exception as exc:
            log.error(EV_BATCH_FAILED, group=self.handler.group.value, partition=partition, entries=entries,
                      error=f"{type(exc).__name__}: {exc}", retry_after_ms=self.settings.claim_idle_ms)
            raise

    async def start(self) -> None:
        await self.eventlog.ensure_groups(self.handler.input, self.handler.group)  # on every partition
        for partition in self.eventlog.partitions():
            await self.handler.before_batch(partition)
        await self.broker.start()
        self._heartbeat.start(self._beat())
        if self.handler.defer_idle_acks:
            # well inside the claim idle time, or a claimer would take (and count) the waiting entries
            delay = min(IDLE_ACK_DELAY_S, self.settings.claim_idle_ms / 4000)
            self._idle_ack_writer.start(self._write_idle_acks_every(delay))
        self._background.start(self.handler.in_background())
        log.info("worker.started", group=self.handler.group.value, consumer=self.consumer,
                 partitions=self.settings.partitions)

    async def stop(self) -> None:
        await self._heartbeat.stop()
        await self._idle_ack_writer.stop()
        await self._background.stop()
        await self.broker.stop()
        # Redis may be gone already (Ctrl-C stops it with the services): stopping must still succeed.
        try:
            await self.write_idle_acks()
        except Exception as exc:  # the entries stay pending and are claimed and skipped later
            log.warning("worker.idle_acks_failed", group=self.handler.group.value, error=str(exc))
        try:
            await self.eventlog.forget_consumers(self.handler.group, [self.consumer, self.consumer + CLAIMER])
            await self.eventlog.redis.hdel(WORKERS_KEY, self.consumer)  # type: ignore[misc]
        except Exception as exc:  # its last heartbeat ages, and the status view shows it as gone
            log.warning("worker.unregister_failed", group=self.handler.group.value, error=str(exc))
        log.info("worker.stopped", group=self.handler.group.value, consumer=self.consumer)

    async def _beat(self) -> None:
        """Every 5 s: restart readers that stopped, then say this worker is live (only if they run);
        every ``SWEEP_S``, remove what killed workers left in the group."""
        while True:
            try:
                await self.restart_stopped_readers()
                await self.eventlog.redis.hset(WORKERS_KEY, self.consumer, int(time.time() * 1000))  # type: ignore[misc]
                if time.monotonic() >= self._next_sweep:
                    await self.forget_gone_consumers(GONE_S)
                    self._next_sweep = time.monotonic() + SWEEP_S
            except Exception as exc:  # Redis away: the readers log and retry on their own
                log.warning("worker.heartbeat_failed", error=str(exc))
            await asyncio.sleep(5)

    async def forget_gone_consumers(self, after_s: float) -> list[str]:
        """Remove what workers killed without their stop leave in this worker's group: the consumers
        silent for ``after_s`` with nothing pending (their pending entries are claimed first, after
        ``claim_idle_ms``), unless their worker's heartbeat is younger than that; and this group's
        heartbeats as old. The consumer names removed."""
        redis = self.eventlog.redis
        beats = {as_text(name): int(beat) for name, beat in (await redis.hgetall(WORKERS_KEY)).items()}  # type: ignore[misc]
        silent_since_ms = (time.time() - after_s) * 1000
        live = [name for name, beat in beats.items() if beat >= silent_since_ms]
        gone = await self.eventlog.forget_idle_consumers(self.handler.group, int(after_s * 1000),
                                                         [*live, *(name + CLAIMER for name in live)])
        prefix = f"{self.handler.group.value}-"  # the group's consumers are named <group>-<consumer_name>
        old = [name for name, beat in beats.items() if beat < silent_since_ms and name.startswith(prefix)]
        if old:
            await redis.hdel(WORKERS_KEY, *old)  # type: ignore[misc]
        if gone or old:
            log.info("worker.forgot_consumers", group=self.handler.group.value, consumers=gone, heartbeats=old)
        return gone

    async def restart_stopped_readers(self) -> int:
        """Recreate the groups and restart the readers FastStream stopped for good.

        On ``NOGROUP`` (the stream was deleted, or the server came back without its data) a
        FastStream subscriber stops and, outside a FastStream app, nothing else notices: the process
        would live on without reading. Returns how many readers were restarted.
        """
        stopped = [sub for sub in self.broker.subscribers if not sub.running]
        if not stopped:
            return 0
        log.error("worker.readers_stopped", group=self.handler.group.value, consumer=self.consumer, readers=len(stopped))
        await self.eventlog.ensure_groups(self.handler.input, self.handler.group)  # at id 0, before FastStream's "$"
        restarted = 0
        try:
            for sub in stopped:
                await sub.start()  # may fail on a pooled connection to the old server: the next round retries
                restarted += 1
        finally:
            if restarted:
                log.info("worker.readers_restarted", group=self.handler.group.value, consumer=self.consumer,
                         readers=restarted)
        return restarted

    async def process_claimed(self, partition: int, entry_id: str, fields: Fields) -> None:
        group = self.handler.group
        if not fields:  # deleted from the stream while pending: nothing to do
            await self.eventlog.redis.xack(stream_key(self.handler.input, partition), group.value, entry_id)
            return
        deliveries = await self.eventlog.delivery_count(group, partition, entry_id)
        if deliveries > self.settings.max_deliveries:
            dead_id = await self.eventlog.dead_letter(group, partition, entry_id, deliveries)
            log.error("entry.dead_lettered", group=group.value, entry_id=entry_id,
                      deliveries=deliveries, dead_entry_id=dead_id)
            return
        log.info("entry.retried", group=group.value, entry_id=entry_id, deliveries=deliveries)
        await self.process(partition, [(entry_id, fields)])

    async def process(self, partition: int, entries: Sequence[tuple[str, Fields]]) -> None:
        """Handle a batch: write each effect once and ack, leave failures pending with their error."""
        group = self.handler.group
        await self.handler.before_batch(partition)
        calls: list[Call] = []
        acks: list[str] = []
        events: list[tuple[str, AnyEvent]] = []
        for entry_id, fields in entries:
            try:
                event = decode_event(fields)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                await self._fail(partition, entry_id, f"undecodable entry: {exc}")
                continue
            if event is None:  # a type this worker does not know: skip it, never crash-loop
                acks.append(entry_id)
                continue
            events.append((entry_id, event))
        if events:
            try:
                await self.handler.prefetch(events, partition)
            except Exception as exc:  # only an optimisation: each handle() still reads what it misses
                log.warning("batch.prefetch_failed", group=group.value, error=str(exc))
        for entry_id, event in events:
            structlog.contextvars.bind_contextvars(
                correlation_id=event.correlation_id, article_id=event.article_id, event_id=event.event_id
            )
            try:
                call = await self.handler.handle(event, entry_id, partition)
            except Exception as exc:
                await self._fail(partition, entry_id, f"{type(exc).__name__}: {exc}")
                continue
            finally:
                structlog.contextvars.clear_contextvars()
            if call is None:
                acks.append(entry_id)
            else:
                calls.append(call)
        if not calls and not acks:
            return
        if self.handler.defer_idle_acks:
            if not calls:
                self._idle_acks.setdefault(partition, []).extend(acks)
                return
            acks = self._idle_acks.pop(partition, []) + acks  # they go with this write
        in_stream = stream_key(self.handler.input, partition)
        await self.eventlog.run_append_once(calls, [(in_stream, group, i) for i in acks])

    async def write_idle_acks(self) -> int:
        """Write every ack that is waiting (one pipeline); returns how many."""
        waiting, self._idle_acks = self._idle_acks, {}
        acks = [(stream_key(self.handler.input, p), self.handler.group, i) for p, ids in waiting.items() for i in ids]
        if acks:
            try:
                await self.eventlog.run_append_once([], acks)
            except Exception:
                for partition, ids in waiting.items():  # back in front of any that came meanwhile
                    self._idle_acks[partition] = ids + self._idle_acks.get(partition, [])
                raise
        return len(acks)

    async def _write_idle_acks_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.write_idle_acks()
            except Exception as exc:  # Redis away: they wait for the next round
                log.warning("worker.idle_acks_failed", group=self.handler.group.value, error=str(exc))

    async def _fail(self, partition: int, entry_id: str, error: str) -> None:
        log.warning("entry.failed", group=self.handler.group.value, entry_id=entry_id, error=error)
        await self.eventlog.record_error(self.handler.group, partition, entry_id, error)


