"""``newswire status`` and ``GET /metrics``: streams, groups' lag and pending entries, dead letters,
workers and partners, read from a real server."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from schemas.partners import Filters
from schemas.streams import Group, Stream, stream_key
from services.publish.partners import PartnerRegistry
from services.publish.webhooks.store import WebhookStore
from services.wire.eventlog import EventLog
from services.wire.metrics import prometheus_text
from services.wire.settings import Settings
from services.wire.status import ServerStatus, WireStatus, status_text, wire_status
from services.wire.worker import WORKERS_KEY
from tests.integration.test_cli_commands import newswire

FILED_0 = stream_key(Stream.FILED, 0)


async def a_wire_with_work_in_flight(redis: Redis, redis_url: str) -> None:
    """Two partitions; five filings on partition 0, of which enrich has read three and acked one."""
    eventlog = EventLog(redis, Settings(redis_url=redis_url, partitions=2))
    await eventlog.ensure_groups(Stream.FILED, Group.ENRICH)
    for n in range(5):
        await redis.xadd(FILED_0, {"type": "article.filed.v1", "data": f"{n}"})
    read = await redis.xreadgroup(Group.ENRICH.value, "enrich-host-1", {FILED_0: ">"}, count=3)
    await redis.xack(FILED_0, Group.ENRICH.value, read[0][1][0][0])
    await redis.xadd(stream_key(Stream.DEAD, 1), {"stream": FILED_0, "error": "boom"})
    now_ms = int(time.time() * 1000)
    await redis.hset(WORKERS_KEY, mapping={"enrich-host-1": now_ms, "publish-host-2": now_ms - 120_000})  # type: ignore[misc]
    registry = PartnerRegistry(redis)
    now = datetime.now(UTC)
    await registry.register("hooked", modes=["webhook"], filters=Filters(), webhook_url="http://127.0.0.1:9/in",
                            actor="test", now=now)
    await registry.register("reader", modes=["sse", "feed"], filters=Filters(), webhook_url=None, actor="test", now=now)
    store = WebhookStore(redis)
    for version in (1, 2):
        await store.append("hooked", f"{now_ms}-{version}", 0, "urn:newswire:article:a", version)


async def expected_lag(redis: Redis, entries: int) -> int | None:
    """``entries`` where the server reports a group's lag (Redis 7 and later, Valkey); else ``None``."""
    groups = await redis.xinfo_groups(FILED_0)
    return entries if "lag" in groups[0] else None


def shown(lag: int | None) -> str:
    return "?" if lag is None else str(lag)


async def test_status_gives_lag_pending_dead_letters_workers_and_partner_queues(redis: Redis, redis_url: str) -> None:
    await a_wire_with_work_in_flight(redis, redis_url)
    status = await wire_status(redis, 2)
    assert [(s.key, s.length) for s in status.streams] == [
        (stream_key(Stream.FILED, 0), 5), (stream_key(Stream.ENRICHED, 0), 0),
        (stream_key(Stream.PUBLISHED, 0), 0), (stream_key(Stream.DEAD, 0), 0),
        (stream_key(Stream.FILED, 1), 0), (stream_key(Stream.ENRICHED, 1), 0),
        (stream_key(Stream.PUBLISHED, 1), 0), (stream_key(Stream.DEAD, 1), 1),
    ]
    filed = status.streams[0]
    lag = await expected_lag(redis, 2)
    assert [(g.name, g.consumers, g.pending, g.lag) for g in filed.groups] == [("enrich", 1, 2, lag)]
    assert filed.last_entry is not None and filed.last_entry_age_s is not None and filed.last_entry_age_s < 60
    assert status.streams[1].groups == [] and status.streams[1].last_entry is None  # never written
    assert status.dead_letters == 1
    assert [(w.consumer, w.live) for w in status.workers] == [("enrich-host-1", True), ("publish-host-2", False)]
    assert [(p.name, p.webhook_queued, p.webhook_dead) for p in status.partners] == [("hooked", 2, 0),
                                                                                     ("reader", None, None)]
    text = status_text(status)
    assert f"enrich (1, 2, {shown(lag)})" in text
    assert "dead letters: 1" in text
    assert "(stopped?)" in text
    assert "webhooks: 2 queued, 0 dead" in text
    info = await redis.info()
    assert status.server.used_memory > 0 and status.server.maxmemory == int(info["maxmemory"])
    aof = int(info["aof_enabled"]) == 1
    assert status.server.aof_bytes == (int(info["aof_current_size"]) if aof else None)
    assert status.server.aof_base_bytes == (int(info["aof_base_size"]) if aof else None)
    assert "server\n  memory " in text


def test_the_server_lines_say_the_limit_a_rewrite_under_way_and_one_that_failed() -> None:
    def text(**server: int | bool | None) -> str:
        fields = {"used_memory": 3 * 2**20, "maxmemory": 0, "aof_bytes": 300 * 2**20, "aof_base_bytes": 150 * 2**20,
                  "aof_rewriting": False, "aof_last_rewrite_ok": True, **server}
        status = WireStatus(at_ms=0, streams=[], workers=[], partners=[], server=ServerStatus(**fields))  # type: ignore[arg-type]
        return status_text(status).split("server\n", 1)[1]

    assert text() == "  memory 3.0 MB (no limit set)\n  AOF 300.0 MB, 150.0 MB after its last rewrite (ok)"
    assert text(maxmemory=2**30).startswith("  memory 3.0 MB of 1,024.0 MB\n")
    assert text(aof_rewriting=True, aof_last_rewrite_ok=False).endswith("(FAILED); rewriting now")
    assert text(aof_bytes=None, aof_base_bytes=None).endswith("\n  AOF off")
    assert text(aof_bytes=17_769, aof_base_bytes=0).endswith("AOF 17.4 KB, 0.0 KB after its last rewrite (ok)")


async def test_the_status_command_prints_the_table_or_json(redis: Redis, redis_url: str) -> None:
    await a_wire_with_work_in_flight(redis, redis_url)
    table = newswire(redis_url, "status")
    assert table.returncode == 0, table.stderr
    lag = await expected_lag(redis, 2)
    assert f"enrich (1, 2, {shown(lag)})" in table.stdout
    as_json = newswire(redis_url, "status", "--json")
    assert as_json.returncode == 0, as_json.stderr
    parsed = json.loads(as_json.stdout)
    assert parsed["streams"][0]["groups"][0] == {"name": "enrich", "consumers": 1, "pending": 2, "lag": lag,
                                                 "last_delivered": parsed["streams"][0]["groups"][0]["last_delivered"]}
    assert [p["name"] for p in parsed["partners"]] == ["hooked", "reader"]


async def test_an_empty_server_has_a_status_too(redis: Redis) -> None:
    status = await wire_status(redis, 1)
    assert [s.length for s in status.streams] == [0, 0, 0, 0]
    assert status.workers == [] and status.partners == []
    assert "none has reported" in status_text(status)


async def test_the_status_as_prometheus_metrics_parses_with_the_same_figures(redis: Redis, redis_url: str) -> None:
    await a_wire_with_work_in_flight(redis, redis_url)
    text = prometheus_text(await wire_status(redis, 2)).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    where = (("group", "enrich"), ("partition", "0"), ("stream", "filed"))
    assert samples[("newswire_group_pending_entries", where)] == 2
    lag = await expected_lag(redis, 2)
    assert samples.get(("newswire_group_lag_entries", where)) == lag  # no sample where the server cannot tell
    assert samples[("newswire_group_consumers", where)] == 1
    assert samples[("newswire_stream_entries", (("partition", "0"), ("stream", "filed")))] == 5
    assert samples[("newswire_stream_entries", (("partition", "1"), ("stream", "dead")))] == 1
    assert samples[("newswire_dead_letters", ())] == 1
    assert samples[("newswire_partner_webhook_queued", (("partner", "hooked"),))] == 2
    assert ("newswire_partner_webhook_queued", (("partner", "reader"),)) not in samples  # no webhooks
    assert samples[("newswire_partner_active", (("partner", "reader"),))] == 1
    assert samples[("newswire_worker_last_seen_seconds", (("consumer", "publish-host-2"),))] >= 120
    assert samples[("newswire_server_used_memory_bytes", ())] > 0
    assert samples[("newswire_server_aof_rewrite_in_progress", ())] in (0, 1)
    assert samples[("newswire_server_aof_last_rewrite_ok", ())] == 1
    info = await redis.info("persistence")
    if int(info["aof_enabled"]) == 1:
        assert samples[("newswire_server_aof_base_bytes", ())] == int(info["aof_base_size"])
