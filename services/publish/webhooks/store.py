"""A partner's webhook state on Redis: outbox, cursor, retry state, lease, dead letters and delivery log.

Every key of one partner carries ``{partner:<name>}`` (``schemas.streams.partner_key``), so each
script below touches one hash slot:

| key | type | what |
|---|---|---|
| ``outbox`` | stream | items to deliver, in order: ``pub`` (published entry id), ``partition``, ``article``, |
|  |  | ``version``, ``msg`` (the webhook-id) |
| ``enqueued`` | sorted set | ``<partition>/<published id>`` already put in the outbox by the fan-out (its tracking record) |
| ``cursor`` | string | the last outbox entry finished (delivered or dead-lettered) |
| ``retry`` | hash | ``entry``, ``attempts``, ``next`` (ms): the schedule of the outbox head after failures |
| ``lease`` | string | the token of the one process delivering for this partner (expires) |
| ``dead`` | stream | outbox entries given up on, with ``attempts``, ``status``, ``error``, ``at`` |
| ``log`` | stream | every attempt: ``msg``, ``outbox``, ``attempt``, ``status``, ``outcome``, ``latency_ms``, ``error``, ``at`` |
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from redis.asyncio import Redis

from schemas.streams import partner_key
from services.publish.partners import sent_key
from services.wire.eventlog import ScriptCall, as_entries, as_text, flatten, parse_id, run_scripts

DEDUP_WINDOW_MS = 7 * 86_400_000  # the fan-out's tracking record keeps a week of published ids

OUTBOX_FIELDS = (b"pub", b"partition", b"article", b"version", b"msg")

# Put an item in a partner's outbox once per published entry, and record that the partner got the article.
# KEYS: enqueued zset, outbox, sent set. ARGV: member, score (ms), prune-below score, article id, fields...
_ENQUEUE_ONCE = """
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 0 then return false end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 5))
redis.call('SADD', KEYS[3], ARGV[4])
return id
"""

# The first unfinished outbox entry and the retry state, in one round trip.
# KEYS: cursor, outbox, retry. Returns {entry id, fields, retry hash fields} or nil.
_HEAD = """
local cur = redis.call('GET', KEYS[1])
local start = '-'
if cur then start = '(' .. cur end
local rows = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', 1)
if #rows == 0 then return false end
return {rows[1][1], rows[1][2], redis.call('HGETALL', KEYS[3])}
"""

# Take or keep the lease. KEYS: lease. ARGV: token, ms. Returns 1 when held.
_LEASE = """
local cur = redis.call('GET', KEYS[1])
if cur == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

# Finish the outbox head (delivered, or dead-lettered when fields follow). Only the lease holder may.
# Entries before it are done with: the outbox is trimmed up to it.
# KEYS: lease, cursor, retry, dead, outbox. ARGV: token, outbox id, then the dead entry's fields (if any).
_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[3])
redis.call('XTRIM', KEYS[5], 'MINID', ARGV[2])
if #ARGV > 2 then redis.call('XADD', KEYS[4], '*', unpack(ARGV, 3)) end
return 1
"""

# Record the head's retry state (attempts 0: forget it). KEYS: lease, retry. ARGV: token, entry, attempts, next ms.
_RETRY_STATE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '0' then redis.call('DEL', KEYS[2]) return 1 end
redis.call('HSET', KEYS[2], 'entry', ARGV[2], 'attempts', ARGV[3], 'next', ARGV[4])
return 1
"""

# Move one dead letter back to the outbox (once, even if two redrives race). KEYS: dead, outbox. ARGV: id, fields...
_REDRIVE_ONE = """
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return false end
return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
"""


class OutboxItem(msgspec.Struct, frozen=True):
    entry_id: str  # on the outbox
    published_id: str
    partition: int
    article_id: str
    version: int
    msg_id: str  # the webhook-id: the same for every attempt, redrive and replay of this item


class RetryState(msgspec.Struct, frozen=True):
    entry_id: str
    attempts: int
    next_at_ms: int


class DeliveryRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt, as the delivery log holds it."""

    log_id: str
    msg_id: str
    outbox_id: str
    article_id: str
    version: int
    attempt: int
    status: int | None
    outcome: str
    latency_ms: int
    error: str
    at: datetime


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    dead_id: str
    item: OutboxItem
    attempts: int
    status: int | None
    error: str
    at: datetime


def msg_id_for(published_id: str, partition: int) -> str:
    return f"msg_{published_id}" if partition == 0 else f"msg_p{partition}_{published_id}"


def outbox_fields(published_id: str, partition: int, article_id: str, version: int) -> dict[str, str]:
    return {"pub": published_id, "partition": str(partition), "article": article_id, "version": str(version),
            "msg": msg_id_for(published_id, partition)}


def _s(fields: dict[bytes, bytes], name: str, default: str = "") -> str:
    value = fields.get(name.encode())
    return value.decode() if value is not None else default


def _item(entry_id: str, fields: dict[bytes, bytes]) -> OutboxItem:
    return OutboxItem(entry_id, _s(fields, "pub"), int(_s(fields, "partition", "0")), _s(fields, "article"),
                      int(_s(fields, "version", "0")), _s(fields, "msg"))


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _status(text: str) -> int | None:
    return int(text) if text else None


class WebhookStore:
    """The scripts and reads of partners' webhook state (one instance per process)."""

    def __init__(self, redis: Redis, log_maxlen: int = 10_000) -> None:
        self.redis = redis
        self.log_maxlen = log_maxlen
        self._enqueue_once = redis.register_script(_ENQUEUE_ONCE)
        self._head = redis.register_script(_HEAD)
        self._lease = redis.register_script(_LEASE)
        self._release = redis.register_script(_RELEASE)
        self._finish = redis.register_script(_FINISH)
        self._retry_state = redis.register_script(_RETRY_STATE)
        self._redrive_one = redis.register_script(_REDRIVE_ONE)

    @staticmethod
    def key(name: str, what: str) -> str:
        return partner_key(name, what)

    # -- the fan-out side
    async def enqueue_once(self, names: Sequence[str], partition: int, published_id: str, article_id: str,
                           version: int) -> list[str | None]:
        """Put one published item in each partner's outbox unless it is there already; new outbox ids or None."""
        if not names:
            return []
        member = f"{partition}/{published_id}"
        score = parse_id(published_id)[0]
        fields = flatten({k: v.encode() for k, v in outbox_fields(published_id, partition, article_id, version).items()})
        calls: list[ScriptCall] = []
        for name in names:
            keys = [self.key(name, "enqueued"), self.key(name, "outbox"), sent_key(name)]
            args: list[Any] = [member, score, score - DEDUP_WINDOW_MS, article_id, *fields]
            calls.append((self._enqueue_once, keys, args))
        results = await run_scripts(self.redis, calls)
        return [r.decode() if isinstance(r, bytes) else None for r in results]

    async def append(self, name: str, published_id: str, partition: int, article_id: str, version: int) -> str:
        """Put an item at the end of the outbox whatever was sent before (replay), and record it as sent."""
        fields = outbox_fields(published_id, partition, article_id, version)
        async with self.redis.pipeline(transaction=True) as tx:
            tx.xadd(self.key(name, "outbox"), fields)  # type: ignore[arg-type]
            tx.sadd(sent_key(name), article_id)
            entry_id, _ = await tx.execute()
        return str(entry_id.decode())

    # -- the delivery side
    async def hold_lease(self, name: str, token: str, lease_ms: int) -> bool:
        return bool(await self._lease(keys=[self.key(name, "lease")], args=[token, lease_ms]))

    async def release_lease(self, name: str, token: str) -> None:
        await self._release(keys=[self.key(name, "lease")], args=[token])

    async def head(self, name: str) -> OutboxItem | None:
        """The first outbox item not yet finished."""
        cursor = await self.redis.get(self.key(name, "cursor"))
        start = "(" + as_text(cursor) if cursor else "-"
        rows = as_entries(await self.redis.xrange(self.key(name, "outbox"), start, "+", count=1))
        return _item(*rows[0]) if rows else None

    async def next_item(self, name: str) -> tuple[OutboxItem, RetryState | None] | None:
        """The outbox head and its retry state (``None`` when the outbox is drained)."""
        keys = [self.key(name, "cursor"), self.key(name, "outbox"), self.key(name, "retry")]
        reply = await self._head(keys=keys)
        if not reply:
            return None
        entry_id, flat, retry = reply
        item = _item(as_text(entry_id), _pairs(flat))
        raw = _pairs(retry)
        state = RetryState(_s(raw, "entry"), int(_s(raw, "attempts", "0")), int(_s(raw, "next", "0"))) if raw else None
        return item, state

    async def retry_state(self, name: str) -> RetryState | None:
        raw: dict[bytes, bytes] = await self.redis.hgetall(self.key(name, "retry"))  # type: ignore[misc,assignment]
        if not raw:
            return None
        return RetryState(_s(raw, "entry"), int(_s(raw, "attempts", "0")), int(_s(raw, "next", "0")))

    async def set_retry(self, name: str, token: str, entry_id: str, attempts: int, next_at_ms: int) -> bool:
        keys = [self.key(name, "lease"), self.key(name, "retry")]
        return bool(await self._retry_state(keys=keys, args=[token, entry_id, attempts, next_at_ms]))

    async def finish(self, name: str, token: str, item: OutboxItem, *, dead: tuple[int, int | None, str] | None,
                     now: datetime) -> bool:
        """Advance past ``item``; with ``dead`` = (attempts, status, error) park it on the dead-letter stream."""
        keys = [self.key(name, "lease"), self.key(name, "cursor"), self.key(name, "retry"), self.key(name, "dead"),
                self.key(name, "outbox")]
        args: list[str] = [token, item.entry_id]
        if dead is not None:
            attempts, status, error = dead
            fields = {**outbox_fields(item.published_id, item.partition, item.article_id, item.version),
                      "outbox": item.entry_id, "attempts": str(attempts), "status": "" if status is None else str(status),
                      "error": error[:2000], "at": now.isoformat()}
            args += [str(v) for kv in fields.items() for v in kv]
        return bool(await self._finish(keys=keys, args=args))

    async def log_attempt(self, name: str, item: OutboxItem, *, attempt: int, status: int | None, outcome: str,
                          latency_ms: int, error: str, now: datetime) -> None:
        fields = {"msg": item.msg_id, "outbox": item.entry_id, "article": item.article_id, "version": str(item.version),
                  "attempt": str(attempt), "status": "" if status is None else str(status), "outcome": outcome,
                  "latency_ms": str(latency_ms), "error": error[:2000], "at": now.isoformat()}
        await self.redis.xadd(self.key(name, "log"), fields, maxlen=self.log_maxlen, approximate=True)  # type: ignore[arg-type]

    # -- operations
    async def deliveries(self, name: str, count: int) -> list[DeliveryRecord]:
        """The latest ``count`` attempts, newest first."""
        rows = as_entries(await self.redis.xrevrange(self.key(name, "log"), count=count))
        return [DeliveryRecord(
            log_id=entry_id, msg_id=_s(f, "msg"), outbox_id=_s(f, "outbox"), article_id=_s(f, "article"),
            version=int(_s(f, "version", "0")), attempt=int(_s(f, "attempt", "0")), status=_status(_s(f, "status")),
            outcome=_s(f, "outcome"), latency_ms=int(_s(f, "latency_ms", "0")), error=_s(f, "error"),
            at=datetime.fromisoformat(_s(f, "at")) if _s(f, "at") else datetime.fromtimestamp(parse_id(entry_id)[0] / 1000, UTC),
        ) for entry_id, f in rows]

    async def dead_letters(self, name: str, count: int = 1000) -> list[DeadLetter]:
        rows = as_entries(await self.redis.xrange(self.key(name, "dead"), count=count))
        return [DeadLetter(dead_id=entry_id, item=_item(_s(f, "outbox"), f), attempts=int(_s(f, "attempts", "0")),
                           status=_status(_s(f, "status")), error=_s(f, "error"),
                           at=datetime.fromisoformat(_s(f, "at"))) for entry_id, f in rows]

    async def redrive(self, name: str) -> int:
        """Move every dead letter back to the end of the outbox, oldest first; how many moved."""
        moved = 0
        while True:
            rows = as_entries(await self.redis.xrange(self.key(name, "dead"), count=100))
            if not rows:
                return moved
            for entry_id, fields in rows:
                kept = [v for k in OUTBOX_FIELDS for v in (k, fields.get(k, b""))]
                if await self._redrive_one(keys=[self.key(name, "dead"), self.key(name, "outbox")], args=[entry_id, *kept]):
                    moved += 1
