"""Publish's projection of each article: what partners have, what an embargo holds back, kills.

Every change is one Lua script over keys of the article's partition, so versions, kills and
embargoes arriving from two consumer groups in any order settle the same way:

- a version is delivered only if it is newer than anything delivered or held, and the article is
  not killed;
- a version whose embargo is in the future is held (``nw:{p}:embargoed``, scored by release time)
  and released by :class:`EmbargoReleaser`, even after a restart;
- a kill marks the article, drops anything held, and delivers a ``canceled`` item only if some
  version was delivered before: a kill before release means nothing is ever delivered.

Each version is kept once in ``nw:{p}:versions:<id>``: a delivered version as ``@<entry id>`` of its
entry on the published stream, which carries the item; any other version as its item JSON (see
``services/wire/versions.py``). The article's ``nw:{p}:item:<id>`` says which version partners have
(``published_version``), whether it was killed and what an embargo holds back. (An ``item`` field
there, a second copy of the delivered version that older code kept, is dropped the next time the
article changes.)
"""

from __future__ import annotations

import asyncio
import time

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from schemas.codec import encode_event, encode_json
from schemas.events import ArticlePublished
from schemas.ninjs import NinjsItem
from schemas.streams import Group, Stream, embargo_key, history_key, item_key, stream_key, versions_key
from services.wire.background import Background
from services.wire.eventlog import GROUP_INPUT, done_key, flatten
from services.wire.versions import version_items
from services.wire.worker import Call

log = structlog.get_logger()


def _once(input_stream: str) -> str:
    """How every script below starts: a source event already done is only acked again; ``done``
    records the result against the source event id and acks the input entry (``input_stream`` is
    the KEYS slot of the input stream; KEYS[1] is the done hash; ARGV starts with the source event
    id, the group and the input entry id)."""
    return f"""
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev then redis.call('XACK', {input_stream}, ARGV[2], ARGV[3]) return prev end
local function done(result)
  redis.call('HSET', KEYS[1], ARGV[1], result)
  redis.call('XACK', {input_stream}, ARGV[2], ARGV[3])
  return result
end"""


# KEYS: done, published, input stream, item, versions, embargoed, history.
# ARGV: source event id, group, input entry id, article id, version, release ms (0: none), item JSON,
#       then the published entry's fields.
_PUBLISH = _once("KEYS[3]") + """
local version = tonumber(ARGV[5])
local function kept(result)
  -- not delivered now: the version keeps its item, unless it has a value already (its delivery, or the
  -- item an earlier enrichment of the same version built)
  redis.call('HSETNX', KEYS[5], ARGV[5], ARGV[7])
  return done(result)
end
if redis.call('HEXISTS', KEYS[4], 'killed') == 1 then return kept('killed') end
local delivered = tonumber(redis.call('HGET', KEYS[4], 'published_version') or '0')
local held = tonumber(redis.call('HGET', KEYS[4], 'pending_version') or '0')
if version <= delivered or version <= held then return kept('stale') end
local release = tonumber(ARGV[6])
local override = tonumber(redis.call('HGET', KEYS[4], 'embargo_version') or '0')
if override > version then release = tonumber(redis.call('HGET', KEYS[4], 'embargo_ms')) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if release > now then
  redis.call('HSET', KEYS[4], 'pending_version', version, 'pending_fields', cjson.encode({unpack(ARGV, 8)}))
  redis.call('HDEL', KEYS[4], 'pending_item')  -- older code kept the held item here as well
  redis.call('ZADD', KEYS[6], release, ARGV[4])
  return kept('held')
end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 8))
redis.call('HSET', KEYS[5], ARGV[5], '@' .. id)
redis.call('HSET', KEYS[4], 'published_version', version)
redis.call('HDEL', KEYS[4], 'pending_version', 'pending_item', 'pending_fields', 'item')
redis.call('ZREM', KEYS[6], ARGV[4])
redis.call('RPUSH', KEYS[7], KEYS[2] .. ' ' .. id)
return done(id)
"""

# KEYS: done, published, input stream, item, versions, embargoed, history.
# ARGV: source event id, group, input entry id, article id, version, canceled item JSON, fields...
_KILL = _once("KEYS[3]") + """
redis.call('HSET', KEYS[4], 'killed', ARGV[5])
redis.call('HDEL', KEYS[4], 'pending_version', 'pending_item', 'pending_fields', 'item')
redis.call('ZREM', KEYS[6], ARGV[4])
if not redis.call('HGET', KEYS[4], 'published_version') then
  redis.call('HSET', KEYS[5], ARGV[5], ARGV[6])
  return done('never-delivered')
end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 7))
redis.call('HSET', KEYS[5], ARGV[5], '@' .. id)
redis.call('HSET', KEYS[4], 'published_version', ARGV[5])
redis.call('RPUSH', KEYS[7], KEYS[2] .. ' ' .. id)
return done(id)
"""

# KEYS: done, input stream, item, versions, embargoed.
# ARGV: source event id, group, input entry id, article id, version, release ms, re-held item JSON
#       ('' when nothing is held), then the re-held published entry's fields.
_REEMBARGO = _once("KEYS[2]") + """
if redis.call('HEXISTS', KEYS[3], 'killed') == 1 then return done('killed') end
redis.call('HSET', KEYS[3], 'embargo_version', ARGV[5], 'embargo_ms', ARGV[6])
if ARGV[7] == '' or not redis.call('HGET', KEYS[3], 'pending_version') then return done('not-held') end
redis.call('HSET', KEYS[3], 'pending_version', ARGV[5], 'pending_fields', cjson.encode({unpack(ARGV, 8)}))
redis.call('HDEL', KEYS[3], 'pending_item')  -- older code kept the held item here as well
redis.call('HSET', KEYS[4], ARGV[5], ARGV[7])
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[4])
return done('rescheduled')
"""

# KEYS: item, embargoed, published, history, versions. ARGV: article id.
_RELEASE = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(score) > now then return false end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'killed') == 1 then return false end
local fields = redis.call('HGET', KEYS[1], 'pending_fields')
if not fields then return false end
local id = redis.call('XADD', KEYS[3], '*', unpack(cjson.decode(fields)))
local version = redis.call('HGET', KEYS[1], 'pending_version')
redis.call('HSET', KEYS[5], version, '@' .. id)
redis.call('HSET', KEYS[1], 'published_version', version)
redis.call('HDEL', KEYS[1], 'pending_version', 'pending_item', 'pending_fields', 'item')
redis.call('RPUSH', KEYS[4], KEYS[3] .. ' ' .. id)
return id
"""

_item = msgspec.json.Decoder(NinjsItem)


class ArticleProjection:
    """The scripts above, bound to one Redis client."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._publish = redis.register_script(_PUBLISH)
        self._kill = redis.register_script(_KILL)
        self._reembargo = redis.register_script(_REEMBARGO)
        self._release = redis.register_script(_RELEASE)

    def _keys(self, group: Group, partition: int, article_id: str) -> list[str]:
        return [done_key(group, partition), stream_key(Stream.PUBLISHED, partition),
                stream_key(GROUP_INPUT[group], partition), item_key(article_id, partition),
                versions_key(article_id, partition), embargo_key(partition), history_key(article_id, partition)]

    def publish_call(self, group: Group, partition: int, *, source_event_id: str, entry_id: str,
                     published: ArticlePublished, release_ms: int) -> Call:
        args: list[bytes | str] = [source_event_id, group.value, entry_id, published.article_id,
                                   str(published.version), str(release_ms), encode_json(published.item),
                                   *flatten(encode_event(published))]
        return self._publish, self._keys(group, partition, published.article_id), args

    def kill_call(self, group: Group, partition: int, *, source_event_id: str, entry_id: str,
                  published: ArticlePublished) -> Call:
        args: list[bytes | str] = [source_event_id, group.value, entry_id, published.article_id,
                                   str(published.version), encode_json(published.item), *flatten(encode_event(published))]
        return self._kill, self._keys(group, partition, published.article_id), args

    def reembargo_call(self, group: Group, partition: int, *, source_event_id: str, entry_id: str, article_id: str,
                       version: int, release_ms: int, held: ArticlePublished | None) -> Call:
        keys = self._keys(group, partition, article_id)
        args: list[bytes | str] = [source_event_id, group.value, entry_id, article_id, str(version), str(release_ms)]
        args += [encode_json(held.item), *flatten(encode_event(held))] if held else [""]
        return self._reembargo, [keys[0], keys[2], keys[3], keys[4], keys[5]], args

    async def state(self, article_id: str, partition: int) -> dict[str, bytes]:
        raw: dict[bytes, bytes] = await self.redis.hgetall(item_key(article_id, partition))  # type: ignore[misc,assignment]
        return {k.decode(): v for k, v in raw.items()}

    async def last_item(self, article_id: str, partition: int) -> NinjsItem | None:
        """What partners have of the article, else what is held for them."""
        state = await self.state(article_id, partition)
        return await self._item_of(article_id, partition, state, state.get("published_version") or
                                   state.get("pending_version"))

    async def held_item(self, article_id: str, partition: int) -> NinjsItem | None:
        state = await self.state(article_id, partition)
        return await self._item_of(article_id, partition, state, state.get("pending_version"))

    async def _item_of(self, article_id: str, partition: int, state: dict[str, bytes],
                       version: bytes | None) -> NinjsItem | None:
        """The item the versions hash keeps for ``version`` (a held one as its item, a delivered one by
        reference); else a ``pending_item`` that older code kept beside a held version."""
        raw = state.get("pending_item")
        if version is not None:
            stored: bytes | None = await self.redis.hget(versions_key(article_id, partition), version.decode())  # type: ignore[misc,assignment]
            if stored is not None:
                raw = (await version_items(self.redis, partition, {0: stored})).get(0, raw)
        return _item.decode(raw) if raw else None

    async def due(self, partition: int, now_ms: int, count: int = 100) -> list[str]:
        rows: list[bytes] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            embargo_key(partition), "-inf", now_ms, start=0, num=count)
        return [r.decode() for r in rows]

    async def next_release_ms(self, partition: int) -> int | None:
        rows = await self.redis.zrange(embargo_key(partition), 0, 0, withscores=True)
        return int(rows[0][1]) if rows else None

    async def release(self, article_id: str, partition: int) -> str | None:
        keys = [item_key(article_id, partition), embargo_key(partition), stream_key(Stream.PUBLISHED, partition),
                history_key(article_id, partition), versions_key(article_id, partition)]
        result = await self._release(keys=keys, args=[article_id])
        return result.decode() if isinstance(result, bytes) else None



class EmbargoReleaser:
    """Releases held articles when their embargo passes (at most ``max_sleep`` late, 0 if woken)."""

    def __init__(self, projection: ArticleProjection, partitions: int, max_sleep: float = 0.5) -> None:
        self.projection = projection
        self.partitions = partitions
        self.max_sleep = max_sleep
        self._background = Background()

    async def start(self) -> None:
        self._background.start(self._run())

    async def stop(self) -> None:
        await self._background.stop()

    async def release_due(self) -> int:
        released = 0
        now_ms = int(time.time() * 1000)
        for partition in range(self.partitions):
            for article_id in await self.projection.due(partition, now_ms):
                entry_id = await self.projection.release(article_id, partition)
                if entry_id:
                    released += 1
                    log.info("article.released", article_id=article_id, entry_id=entry_id)
        return released

    async def _run(self) -> None:
        while True:
            try:
                await self.release_due()
                nexts = [n for p in range(self.partitions) if (n := await self.projection.next_release_ms(p)) is not None]
                wait = self.max_sleep
                if nexts:
                    wait = min(wait, max(0.0, (min(nexts) - time.time() * 1000) / 1000))
                await asyncio.sleep(wait)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("embargo.release_failed", error=str(exc))
                await asyncio.sleep(1)
