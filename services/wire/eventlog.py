"""Access to the event log on Redis: connections, consumer groups and the atomic write scripts.

Every script touches keys of one partition only (one hash tag), so it runs unchanged on a
Redis Cluster once streams are spread over shards (``tests/integration/test_cluster.py`` runs
them on a three-node cluster; there, a batch's script calls go one per round trip, see
``run_scripts``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.commands.core import AsyncScript
from redis.crc import key_slot
from redis.exceptions import ResponseError

from schemas.codec import encode_event, encode_json
from schemas.events import DeadLettered, Event
from schemas.streams import Group, Stream, article_key, history_key, partition_key, partition_of, stream_key
from services.wire.settings import Durability, Settings

# Append an output event once per source event, and ack the input entry, atomically.
# KEYS: done-hash, output stream, input stream.  ARGV: source event id, group, input entry id,
# then the output entry's field/value pairs. Returns the output entry id (the earlier one on a
# repeat).
_APPEND_ONCE = """
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if not prev then
  prev = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
  redis.call('HSET', KEYS[1], ARGV[1], prev)
end
redis.call('XACK', KEYS[3], ARGV[2], ARGV[3])
return prev
"""

# File an article under an idempotency key. KEYS: idempotency key, filed stream.
# ARGV: request fingerprint, ttl seconds, answer JSON, then the entry's field/value pairs.
# Returns {1, entry id} when appended, {0, stored record} when the key was seen before.
_FILE_ONCE = """
if ARGV[1] ~= '' then
  local prev = redis.call('GET', KEYS[1])
  if prev then return {0, prev} end
end
if redis.call('EXISTS', KEYS[3]) == 1 then return {-409, ''} end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 5))
redis.call('HSET', KEYS[3], 'version', 1, 'status', 'usable', 'embargo', ARGV[4])
redis.call('RPUSH', KEYS[4], KEYS[2] .. ' ' .. id)
if ARGV[1] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1] .. '\\n' .. id .. '\\n' .. ARGV[3], 'EX', ARGV[2])
end
return {1, id}
"""

# A later command on an article (update, correction, kill, embargo change), if the editor saw the
# current version. KEYS: article events stream, article state, history. ARGV: the version the
# editor saw, the status to set ('' keeps it), the embargo to set ('-' keeps it), then the
# entry's field/value pairs. Returns {1, entry id}, or {-404|-409|-412, current version}.
_COMMAND = """
local current = redis.call('HGET', KEYS[2], 'version')
if not current then return {-404, ''} end
if redis.call('HGET', KEYS[2], 'status') == 'canceled' then return {-409, current} end
if current ~= ARGV[1] then return {-412, current} end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
redis.call('HSET', KEYS[2], 'version', tonumber(current) + 1)
if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], 'status', ARGV[2]) end
if ARGV[3] ~= '-' then redis.call('HSET', KEYS[2], 'embargo', ARGV[3]) end
redis.call('RPUSH', KEYS[3], KEYS[1] .. ' ' .. id)
return {1, id}
"""

# Park an entry that kept failing on the dead-letter stream and ack it. KEYS: dead stream,
# input stream, errors hash. ARGV: group, entry id, then the dead entry's field/value pairs.
_DEAD_LETTER = """
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return id
"""

# Remove consumers that hold no pending entry from a group (a stopping worker's own names), so that
# a group does not keep a consumer for every process that ever ran. One with entries pending keeps
# them: they wait for a claimer. Returns how many were removed.
_FORGET_CONSUMERS = """
local removed = 0
for i = 2, #ARGV do
  local ok, pending = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[i])
  if ok and #pending == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[i])
    removed = removed + 1
  end
end
return removed
"""

# Remove the consumers of a group that have been silent for ARGV[2] ms and hold no pending entry,
# other than those named in ARGV[3...] (the live workers' own): the names a worker killed without its
# stop leaves. A name removed while its worker is in fact alive comes back at its next read, with
# nothing lost: only names with nothing pending go. Returns the names removed.
_FORGET_IDLE_CONSUMERS = """
local removed = {}
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then
  return removed
end
local keep = {}
for i = 3, #ARGV do
  keep[ARGV[i]] = true
end
local bound = tonumber(ARGV[2])
for _, consumer in ipairs(consumers) do
  local fields = {}
  for i = 1, #consumer, 2 do
    fields[consumer[i]] = consumer[i + 1]
  end
  if fields['pending'] == 0 and fields['idle'] >= bound and not keep[fields['name']] then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], fields['name'])
    removed[#removed + 1] = fields['name']
  end
end
return removed
"""

# A Lua script, its keys and its arguments: one atomic effect, run in a pipeline with others.
ScriptCall = tuple[AsyncScript, list[str], list[bytes | str]]


class DurabilityError(RuntimeError):
    """The Redis server cannot keep the durability promise the wire was configured with."""


def connect(settings: Settings, max_connections: int = 64) -> Redis:
    """A client whose pool makes callers wait for a free connection rather than fail under load."""
    pool = BlockingConnectionPool.from_url(settings.redis_url, max_connections=max_connections, timeout=10,
                                           health_check_interval=10, socket_keepalive=True)
    return Redis(connection_pool=pool)


def flatten(fields: dict[str, bytes]) -> list[bytes | str]:
    out: list[bytes | str] = []
    for key, value in fields.items():
        out.append(key)
        out.append(value)
    return out


def done_key(group: Group, partition: int) -> str:
    """The hash of source event ids a group has already turned into output (its tracking record)."""
    return partition_key(f"done:{group.value}", partition)


def errors_key(group: Group, partition: int) -> str:
    """The last error of each entry that is pending in a group after a failure."""
    return partition_key(f"errors:{group.value}", partition)


class EventLog:
    """The wire's view of Redis: appends, group set-up and the once-only write scripts."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._append_once = redis.register_script(_APPEND_ONCE)
        self._file_once = redis.register_script(_FILE_ONCE)
        self._command = redis.register_script(_COMMAND)
        self._dead_letter = redis.register_script(_DEAD_LETTER)
        self._forget_consumers = redis.register_script(_FORGET_CONSUMERS)
        self._forget_idle_consumers = redis.register_script(_FORGET_IDLE_CONSUMERS)

    def stream_for(self, stream: Stream, article_id: str) -> str:
        return stream_key(stream, partition_of(article_id, self.settings.partitions))

    def partitions(self) -> range:
        return range(self.settings.partitions)

    async def ensure_groups(self, stream: Stream, group: Group) -> None:
        """Create ``group`` on every partition of ``stream`` at id 0 (history included)."""
        for partition in self.partitions():
            try:
                await self.redis.xgroup_create(stream_key(stream, partition), group.value, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def check_durability(self) -> None:
        """Refuse to run when the server would make ``202`` a false promise."""
        wanted = self.settings.durability
        if wanted is Durability.NONE:
            return
        config = await self.redis.config_get("append*")
        appendonly = str(as_text(config.get("appendonly", "no")))
        fsync = str(as_text(config.get("appendfsync", "")))
        if appendonly != "yes":
            raise DurabilityError(
                f"NEWSWIRE_DURABILITY={wanted.value} needs the Redis server to run with "
                "'appendonly yes' (it has 'appendonly no'); start it with --appendonly yes "
                "--appendfsync always, or set NEWSWIRE_DURABILITY=none to accept losing filings"
            )
        if wanted is Durability.ALWAYS and fsync != "always":
            raise DurabilityError(
                f"NEWSWIRE_DURABILITY=fsync-always needs 'appendfsync always' on the Redis server "
                f"(it has {fsync!r}); set it, or choose NEWSWIRE_DURABILITY=fsync-everysec"
            )

    def _article_keys(self, article_id: str) -> tuple[str, str, str]:
        partition = partition_of(article_id, self.settings.partitions)
        return (stream_key(Stream.FILED, partition), article_key(article_id, partition),
                history_key(article_id, partition))

    async def file(
        self, event: Event, *, embargo_ms: int = 0, idempotency: tuple[str, str, bytes, int] | None = None
    ) -> tuple[int, str]:
        """Append a new article's first event and create its state.

        ``idempotency`` is (key, request fingerprint, answer, ttl seconds). Returns (1, entry id)
        when appended, (0, stored record) when the key was seen before, (-409, '') when the
        article exists.
        """
        stream, state, history = self._article_keys(event.article_id)
        key, fingerprint, answer, ttl = idempotency or (state, "", b"", 0)
        args: list[bytes | str | int] = [fingerprint, ttl, answer, embargo_ms, *flatten(encode_event(event))]
        code, value = await self._file_once(keys=[key, stream, state, history], args=args)
        return int(code), as_text(value)

    async def command(
        self, event: Event, *, seen_version: int, status: str = "", embargo_ms: int | None = None
    ) -> tuple[int, str]:
        """Append a later event of an article if ``seen_version`` is still its version.

        Returns (1, entry id), or (-404, '') for no such article, (-409, version) for a killed
        one, (-412, current version) when another change came first.
        """
        stream, state, history = self._article_keys(event.article_id)
        embargo = "-" if embargo_ms is None else str(embargo_ms)
        args: list[bytes | str] = [str(seen_version), status, embargo, *flatten(encode_event(event))]
        code, value = await self._command(keys=[stream, state, history], args=args)
        return int(code), as_text(value)

    async def article_state(self, article_id: str) -> dict[str, str]:
        _, state, _ = self._article_keys(article_id)
        raw = await self.redis.hgetall(state)  # type: ignore[misc]
        return {as_text(k): as_text(v) for k, v in raw.items()}

    def append_once_args(
        self, group: Group, partition: int, *, source_event_id: str, input_entry_id: str, output: Event, out_stream: Stream
    ) -> ScriptCall:
        keys = [done_key(group, partition), stream_key(out_stream, partition), _input_stream(group, partition)]
        args: list[bytes | str] = [source_event_id, group.value, input_entry_id, *flatten(encode_event(output))]
        return self._append_once, keys, args

    async def run_append_once(self, calls: Sequence[ScriptCall], acks: Iterable[tuple[str, Group, str]]) -> list[str]:
        """Run many script calls (each writes its effect and acks its input) and plain acks
        (stream, group, entry id) in one round trip (on a cluster: see ``run_scripts``)."""
        results = await run_scripts(self.redis, calls, acks)
        return [as_text(r) for r in results]

    async def record_error(self, group: Group, partition: int, entry_id: str, error: str) -> None:
        await self.redis.hset(errors_key(group, partition), entry_id, error[:2000])

    async def dead_letter(self, group: Group, partition: int, entry_id: str, deliveries: int) -> str:
        in_stream = _input_stream(group, partition)
        error = await self.redis.hget(errors_key(group, partition), entry_id)
        dead = DeadLettered(
            stream=in_stream,
            group=group.value,
            entry_id=entry_id,
            deliveries=deliveries,
            error=as_text(error) if error else "unknown (no error recorded)",
            dead_at=datetime.now(UTC),
        )
        fields = {"type": b"dead.lettered.v1", "entry": entry_id.encode(), "data": encode_json(dead)}
        keys = [stream_key(Stream.DEAD, partition), in_stream, errors_key(group, partition)]
        return as_text(await self._dead_letter(keys=keys, args=[group.value, entry_id, *flatten(fields)]))

    async def forget_consumers(self, group: Group, consumers: Sequence[str]) -> int:
        """Remove ``consumers`` from ``group`` on every partition where they hold no pending entry
        (one script per partition: each stream may live on a node of its own); how many went."""
        calls: list[ScriptCall] = [(self._forget_consumers, [_input_stream(group, p)], [group.value, *consumers])
                                   for p in self.partitions()]
        return sum(int(n) for n in await run_scripts(self.redis, calls))

    async def forget_idle_consumers(self, group: Group, idle_ms: int, keep: Sequence[str] = ()) -> list[str]:
        """Remove from ``group`` on every partition the consumers silent for ``idle_ms`` with nothing
        pending, other than those in ``keep`` (one script per partition); the names removed, once each."""
        calls: list[ScriptCall] = [(self._forget_idle_consumers, [_input_stream(group, p)],
                                    [group.value, str(idle_ms), *keep]) for p in self.partitions()]
        return sorted({as_text(name) for names in await run_scripts(self.redis, calls) for name in names})

    async def delivery_count(self, group: Group, partition: int, entry_id: str) -> int:
        rows = await self.redis.xpending_range(_input_stream(group, partition), group.value, entry_id, entry_id, 1)
        return int(rows[0]["times_delivered"]) if rows else 0

    async def dead_letters(self, partition: int, count: int = 100) -> list[DeadLettered]:
        rows = as_entries(await self.redis.xrevrange(stream_key(Stream.DEAD, partition), count=count))
        return [msgspec.json.decode(fields[b"data"], type=DeadLettered) for _, fields in rows]


# Which stream each group consumes.
GROUP_INPUT: dict[Group, Stream] = {
    Group.ENRICH: Stream.FILED, Group.PUBLISH: Stream.ENRICHED, Group.WEBHOOKS: Stream.PUBLISHED,
    Group.LIFECYCLE: Stream.FILED,
}


async def run_scripts(redis: Redis | RedisCluster, calls: Sequence[ScriptCall],
                      acks: Iterable[tuple[str, Group, str]] = ()) -> list[Any]:
    """Run script calls, each call's effects in the order given within its hash slot, then plain
    acks (stream, group, entry id); the scripts' results.

    On one server: one pipeline, which starts with a ``SCRIPT LOAD`` of each script it runs (a
    no-op for a script the server has; the server runs a connection's commands in order, so the
    calls after it never meet ``NOSCRIPT``, even just after a restart). redis-py's own way, a
    ``SCRIPT EXISTS`` before the pipeline, would be a second round trip for every batch. On a
    cluster, where redis-py refuses scripts in a pipeline, the calls of each slot run one after
    another and the slots side by side (a round trip per call), and the acks go in one cluster
    pipeline after them.
    """
    acks = list(acks)
    if not isinstance(redis, RedisCluster):
        scripts = {script.sha: script.script for script, _, _ in calls}
        async with redis.pipeline(transaction=False) as pipe:
            for body in scripts.values():
                pipe.script_load(body)
            for script, keys, args in calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            _queue_acks(pipe, acks)
            return list(await pipe.execute())[len(scripts) : len(scripts) + len(calls)]
    results: list[Any] = [None] * len(calls)
    by_slot: dict[int, list[int]] = {}
    for i, (_, keys, _) in enumerate(calls):
        by_slot.setdefault(key_slot(str(keys[0]).encode()), []).append(i)

    async def in_order(indices: list[int]) -> None:
        for i in indices:
            script, keys, args = calls[i]
            results[i] = await script(keys=keys, args=args)

    await asyncio.gather(*(in_order(indices) for indices in by_slot.values()))
    if acks:
        async with redis.pipeline(transaction=False) as cluster_pipe:
            _queue_acks(cluster_pipe, acks)
            await cluster_pipe.execute()
    return results


def _queue_acks(pipe: Pipeline | ClusterPipeline, acks: Iterable[tuple[str, Group, str]]) -> None:
    for stream, group, entry_id in acks:
        pipe.xack(stream, group.value, entry_id)


def _input_stream(group: Group, partition: int) -> str:
    return stream_key(GROUP_INPUT[group], partition)


StreamEntry = tuple[str, dict[bytes, bytes]]
StreamId = tuple[int, int]


def parse_id(entry_id: str) -> StreamId:
    """A stream entry id as (milliseconds, sequence), which order as the entries do."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def as_entries(rows: Any) -> list[StreamEntry]:
    """XRANGE/XREVRANGE rows with typed ids and fields (redis-py's own types are loose)."""
    return [(as_text(entry_id), fields) for entry_id, fields in rows or []]


async def read_entries(redis: Redis, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[bytes, bytes]]:
    """The fields of each (stream key, entry id) that is still on its stream, in one round trip."""
    wanted = list(refs)
    if not wanted:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for stream, entry_id in wanted:
            pipe.xrange(stream, entry_id, entry_id, count=1)
        replies = await pipe.execute()
    found: dict[tuple[str, str], dict[bytes, bytes]] = {}
    for ref, reply in zip(wanted, replies, strict=True):
        for _, fields in as_entries(reply):
            found[ref] = fields
    return found


def as_streams(reply: Any) -> list[tuple[str, list[StreamEntry]]]:
    """An XREAD/XREADGROUP reply as (stream key, entries)."""
    return [(as_text(key), as_entries(rows)) for key, rows in reply or []]


def as_text(value: object) -> str:
    """A reply value (bytes from a client without ``decode_responses``) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)
