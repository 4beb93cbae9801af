"""What an operator looks at first: the streams, each consumer group's lag and pending entries, the
dead letters, the workers' heartbeats, the partners' webhook queues and the server's memory and AOF,
read from Redis alone.

Everything here is read from the log and its projections, never from a service's memory, so any
process (the CLI now, a status page or a metrics exporter later) gets the same answer.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from redis.asyncio import Redis

from schemas.streams import Stream, stream_key
from services.publish.partners import PartnerRegistry
from services.publish.webhooks.store import WebhookStore
from services.wire.eventlog import as_text, parse_id
from services.wire.worker import LIVE_S, WORKERS_KEY

STREAMS = tuple(Stream)  # filed, enriched, published, dead: every stream of a partition


class GroupStatus(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    consumers: int
    pending: int  # read by a consumer, not yet acknowledged
    lag: int | None  # not yet read; None where the server cannot tell (Redis before 7, or after deletions)
    last_delivered: str


class StreamStatus(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    stream: str
    partition: int
    length: int
    last_entry: str | None
    last_entry_age_s: float | None
    groups: list[GroupStatus]


class WorkerStatus(msgspec.Struct, frozen=True, kw_only=True):
    consumer: str
    seen_s_ago: float
    live: bool


class PartnerStatus(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    status: str
    modes: list[str]
    webhook_queued: int | None  # None for a partner without webhooks
    webhook_dead: int | None


class ServerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The server's memory and AOF (``INFO``): the log is kept, so both grow with every story, and
    each AOF rewrite writes the whole dataset again."""

    used_memory: int  # bytes
    maxmemory: int  # bytes; 0 for no limit
    aof_bytes: int | None  # the AOF now; None with AOF off
    aof_base_bytes: int | None  # the AOF after its last rewrite (the server rewrites once it has doubled, by default)
    aof_rewriting: bool
    aof_last_rewrite_ok: bool


class WireStatus(msgspec.Struct, frozen=True, kw_only=True):
    at_ms: int
    streams: list[StreamStatus]
    workers: list[WorkerStatus]
    partners: list[PartnerStatus]
    server: ServerStatus

    @property
    def dead_letters(self) -> int:
        return sum(s.length for s in self.streams if s.stream == Stream.DEAD)


async def wire_status(redis: Redis, partitions: int) -> WireStatus:
    """The whole status in a few round trips (one pipeline for the streams, one for the partners, one
    ``INFO``)."""
    now_ms = int(time.time() * 1000)
    keys = [(stream, p, stream_key(stream, p)) for p in range(partitions) for stream in STREAMS]
    async with redis.pipeline(transaction=False) as pipe:
        for _, _, key in keys:
            pipe.xinfo_stream(key)
            pipe.xinfo_groups(key)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
    streams = [_stream(stream, p, key, info, groups, now_ms)
               for (stream, p, key), info, groups in zip(keys, replies[::2], replies[1::2], strict=True)]
    return WireStatus(at_ms=now_ms, streams=streams, workers=await worker_heartbeats(redis, now_ms),
                      partners=await _partners(redis), server=_server(await redis.info()))


async def worker_heartbeats(redis: Redis, now_ms: int) -> list[WorkerStatus]:
    """Every worker that has reported, by consumer name, live if it did so in the last ``LIVE_S``."""
    seen = await redis.hgetall(WORKERS_KEY)  # type: ignore[misc]
    return sorted((_worker(as_text(name), int(at), now_ms) for name, at in seen.items()), key=lambda w: w.consumer)


def _server(info: dict[str, Any]) -> ServerStatus:
    aof = int(info.get("aof_enabled", 0)) == 1
    return ServerStatus(used_memory=int(info["used_memory"]), maxmemory=int(info.get("maxmemory", 0)),
                        aof_bytes=int(info["aof_current_size"]) if aof else None,
                        aof_base_bytes=int(info["aof_base_size"]) if aof else None,
                        aof_rewriting=int(info.get("aof_rewrite_in_progress", 0)) == 1,
                        aof_last_rewrite_ok=as_text(info.get("aof_last_bgrewrite_status", "ok")) == "ok")


def _stream(stream: Stream, partition: int, key: str, info: Any, groups: Any, now_ms: int) -> StreamStatus:
    if isinstance(info, Exception):  # no such stream yet: nothing was ever written to it
        return StreamStatus(key=key, stream=stream.value, partition=partition, length=0, last_entry=None,
                            last_entry_age_s=None, groups=[])
    last = info.get("last-entry")
    last_id = as_text(last[0]) if last else None
    age = round((now_ms - parse_id(last_id)[0]) / 1000, 1) if last_id else None
    found = [] if isinstance(groups, Exception) else [_group(g) for g in groups]
    return StreamStatus(key=key, stream=stream.value, partition=partition, length=int(info["length"]),
                        last_entry=last_id, last_entry_age_s=age, groups=sorted(found, key=lambda g: g.name))


def _group(reply: dict[Any, Any]) -> GroupStatus:
    fields = {as_text(k): v for k, v in reply.items()}
    lag = fields.get("lag")
    return GroupStatus(name=as_text(fields["name"]), consumers=int(fields["consumers"]), pending=int(fields["pending"]),
                       lag=None if lag is None else int(lag), last_delivered=as_text(fields["last-delivered-id"]))


def _worker(consumer: str, at_ms: int, now_ms: int) -> WorkerStatus:
    ago = round((now_ms - at_ms) / 1000, 1)
    return WorkerStatus(consumer=consumer, seen_s_ago=ago, live=ago < LIVE_S)


async def _partners(redis: Redis) -> list[PartnerStatus]:
    partners = sorted(await PartnerRegistry(redis).all(), key=lambda p: p.name)
    hooked = [p for p in partners if "webhook" in p.modes]
    async with redis.pipeline(transaction=False) as pipe:
        for partner in hooked:
            pipe.xlen(WebhookStore.key(partner.name, "outbox"))
            pipe.xlen(WebhookStore.key(partner.name, "dead"))
        lengths: list[int] = await pipe.execute()
    queues = {p.name: (lengths[2 * i], lengths[2 * i + 1]) for i, p in enumerate(hooked)}
    return [PartnerStatus(name=p.name, status=p.status, modes=list(p.modes),
                          webhook_queued=queues[p.name][0] if p.name in queues else None,
                          webhook_dead=queues[p.name][1] if p.name in queues else None) for p in partners]


def status_text(status: WireStatus) -> str:
    """The status as an operator reads it in a terminal."""
    lines = ["streams", f"  {'stream':<22} {'entries':>9}  {'last entry':<32} groups (consumers, pending, lag)"]
    for s in status.streams:
        last = f"{s.last_entry} ({s.last_entry_age_s:g} s ago)" if s.last_entry else "-"
        groups = "; ".join(f"{g.name} ({g.consumers}, {g.pending}, {'?' if g.lag is None else g.lag})"
                           for g in s.groups) or "-"
        lines.append(f"  {s.key:<22} {s.length:>9}  {last:<32} {groups}")
    lines.append(f"dead letters: {status.dead_letters} (newswire dead-letters lists them)")
    lines.append("workers")
    for w in status.workers or []:
        lines.append(f"  {w.consumer:<40} seen {w.seen_s_ago:g} s ago{'' if w.live else '  (stopped?)'}")
    if not status.workers:
        lines.append("  none has reported")
    lines.append("partners")
    for p in status.partners:
        hooks = "" if p.webhook_queued is None else f"  webhooks: {p.webhook_queued} queued, {p.webhook_dead} dead"
        lines.append(f"  {p.name:<24} {p.status:<7} {','.join(p.modes):<20}{hooks}")
    if not status.partners:
        lines.append("  none registered")
    lines.extend(_server_lines(status.server))
    return "\n".join(line.rstrip() for line in lines)


def _server_lines(server: ServerStatus) -> list[str]:
    limit = f"of {_size(server.maxmemory)}" if server.maxmemory else "(no limit set)"
    lines = ["server", f"  memory {_size(server.used_memory)} {limit}"]
    if server.aof_bytes is None:
        lines.append("  AOF off")
    else:
        last = "ok" if server.aof_last_rewrite_ok else "FAILED"
        now = "; rewriting now" if server.aof_rewriting else ""
        lines.append(f"  AOF {_size(server.aof_bytes)}, {_size(server.aof_base_bytes or 0)} after its last rewrite ({last}){now}")
    return lines


def _size(size: int) -> str:
    return f"{size / 2**20:,.1f} MB" if size >= 2**20 else f"{size / 2**10:,.1f} KB"

