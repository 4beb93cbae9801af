"""What the benchmark reads from and sets on its Redis server: AOF rewrites during a run, and the
settings of the server it starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from bench.pipeline import RateRun, aof_rewrites, rewrites_since, stored
from schemas.streams import Stream, stream_key
from services.wire.redis_server import RedisServer


def test_a_server_we_start_takes_further_settings(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", config={"auto-aof-rewrite-min-size": "1gb"}) as server:
        client = SyncRedis.from_url(server.url)
        try:
            assert client.config_get("auto-aof-rewrite-min-size") == {"auto-aof-rewrite-min-size": str(2**30)}
            assert client.config_get("appendfsync") == {"appendfsync": "always"}  # the rest as before
            assert client.config_get("rdbcompression") == {"rdbcompression": "no"}  # the wire's own setting
        finally:
            client.close()
    with RedisServer(tmp_path / "again", config={"rdbcompression": "yes"}) as server:
        client = SyncRedis.from_url(server.url)
        try:
            assert client.config_get("rdbcompression") == {"rdbcompression": "yes"}  # a setting given wins
        finally:
            client.close()


async def test_a_rewrite_between_two_readings_is_counted(redis: Redis) -> None:
    if "aof_rewrites" not in await redis.info("persistence"):
        pytest.skip("the server does not count its AOF rewrites (Redis before 7), so neither can the bench")
    await redis.set("some", "data")
    while (await aof_rewrites(redis))[1]:  # one the server runs of its own accord ends first
        await asyncio.sleep(0.05)
    before = await aof_rewrites(redis)
    assert rewrites_since(before, await aof_rewrites(redis)) == 0
    await redis.bgrewriteaof()
    while (await aof_rewrites(redis))[1]:
        await asyncio.sleep(0.05)
    assert rewrites_since(before, await aof_rewrites(redis)) == 1


def test_a_rewrite_running_at_the_first_reading_counts_and_the_verdict_says_so() -> None:
    assert rewrites_since((3, True), (3, False)) == 1
    assert rewrites_since((3, True), (5, True)) == 3
    run = RateRun(rate=200, sent=10, accepted=10, delivered=10, latencies_ms=[5.0] * 10, elapsed_s=1.0,
                  send_behind_s=0.0, first_p50_ms=5.0, last_p50_ms=5.0, backlog_end=0)
    assert run.verdict() == "sustained"
    run.aof_rewrites = 2
    assert run.verdict() == "sustained (with 2 AOF rewrites of the server meanwhile)"
    run.delivered = 9
    assert run.verdict() == "1 not delivered (with 2 AOF rewrites of the server meanwhile)"


def test_the_rewrite_option_is_refused_for_a_server_the_bench_did_not_start(monkeypatch: pytest.MonkeyPatch,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from bench.__main__ import parse

    monkeypatch.delenv("NEWSWIRE_BENCH_REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert parse(["--quick", "--aof-rewrite-min-size", "64gb"]).aof_rewrite_min_size == "64gb"
    monkeypatch.setenv("NEWSWIRE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    with pytest.raises(SystemExit) as exited:
        parse(["--quick", "--aof-rewrite-min-size", "64gb"])
    assert exited.value.code == 2
    assert "keeps its own settings" in capsys.readouterr().err


async def test_what_each_story_adds_to_the_servers_memory_and_aof_and_no_aof_figure_across_a_rewrite(
        tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        redis = Redis.from_url(server.url)
        try:
            filed = stream_key(Stream.FILED, 1)  # the second of two partitions
            before = await stored(redis, partitions=2)
            for n in range(200):
                await redis.xadd(filed, {"data": f"{n:04}".encode() * 500})  # 2,000 bytes a story
            after = await stored(redis, partitions=2)
            assert after.stories - before.stories == 200
            memory, aof = before.per_story(after)
            assert 2_000 <= memory < 3_000
            assert aof is not None and 2_000 <= aof < 2_200  # the XADD as written to the file
            await redis.bgrewriteaof()
            while (await aof_rewrites(redis))[1]:
                await asyncio.sleep(0.05)
            rewritten = await stored(redis, partitions=2)
            assert before.per_story(rewritten)[1] is None
            assert after.per_story(rewritten) == (rewritten.used_memory - after.used_memory, None)  # no story: by 1
        finally:
            await redis.aclose()
