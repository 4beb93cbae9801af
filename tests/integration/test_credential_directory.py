"""The credentials projection each HTTP service holds: in step with the registry stream, and Redis's
answer whenever it is not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from services.ingest.app import create_app
from services.wire.credentials import CREDENTIALS, CredentialDirectory, Role, hash_secret, issue, revoke
from services.wire.redis_server import RedisServer
from services.wire.settings import Settings
from tests.fixtures import BELARUS_EARLIER
from tests.integration.test_worker import eventually

EDITORS = frozenset({Role.EDITOR})


@pytest.fixture
async def directory(redis: Redis, redis_url: str) -> AsyncIterator[CredentialDirectory]:
    held = CredentialDirectory(redis, redis_url)
    held.start()
    try:
        yield held
    finally:
        await held.stop()


async def in_step(directory: CredentialDirectory) -> bool:
    return directory.in_step()


async def hget_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_hget", {}).get("calls", 0))


async def test_a_held_credential_is_answered_without_asking_redis(redis: Redis, directory: CredentialDirectory) -> None:
    secret = await issue(redis, Role.EDITOR, "desk")
    await eventually(lambda: _holds(directory, secret))
    before = await hget_calls(redis)
    for _ in range(50):
        credential = await directory.authenticate(secret, EDITORS)
        assert credential is not None and credential.name == "desk"
    assert await directory.authenticate(secret, frozenset({Role.PARTNER})) is None  # held, but not that role
    assert await hget_calls(redis) == before


async def test_a_credential_issued_a_moment_ago_is_found_in_redis(redis: Redis, directory: CredentialDirectory) -> None:
    await eventually(lambda: in_step(directory))
    loads = directory.loads
    secret = await issue(redis, Role.EDITOR, "late")
    found = await directory.authenticate(secret, EDITORS)  # held already, or asked of Redis: accepted either way
    assert found is not None and found.name == "late"
    await eventually(lambda: _loaded_after(directory, loads))
    assert await directory.authenticate("nwe_not-a-key", EDITORS) is None


async def test_a_revoked_credential_stops_working_once_the_revocation_is_read(redis: Redis,
                                                                              directory: CredentialDirectory) -> None:
    secret = await issue(redis, Role.EDITOR, "leaving")
    await eventually(lambda: _holds(directory, secret))
    loads = directory.loads
    assert await revoke(redis, Role.EDITOR, "leaving")
    await eventually(lambda: _loaded_after(directory, loads))  # well before RELOAD_S: the stream moved
    assert await directory.authenticate(secret, EDITORS) is None


async def test_a_credential_removed_by_hand_is_dropped_at_the_next_reload(redis: Redis, redis_url: str) -> None:
    directory = CredentialDirectory(redis, redis_url)
    directory.RELOAD_S = 0.2
    directory.start()
    try:
        secret = await issue(redis, Role.EDITOR, "by-hand")
        await eventually(lambda: _holds(directory, secret))
        await redis.hdel(CREDENTIALS, hash_secret(secret))  # type: ignore[misc]  # no event on the stream
        await eventually(lambda: _forgot(directory, secret))
        assert await directory.authenticate(secret, EDITORS) is None
    finally:
        await directory.stop()


async def test_a_server_restarted_empty_is_noticed_and_its_credentials_are_the_only_ones(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "first")
    server.start()
    port = server.port
    redis = Redis.from_url(server.url)
    directory = CredentialDirectory(redis, server.url)
    directory.start()
    try:
        secret = await issue(redis, Role.EDITOR, "before")
        await eventually(lambda: _holds(directory, secret))
        loads = directory.loads
        server.kill()
        server = RedisServer(tmp_path / "second", port=port)  # the same address, no data
        server.start()
        await redis.connection_pool.disconnect()  # this client's pooled connection died with the first server
        await eventually(lambda: _loaded_after(directory, loads))
        assert await directory.authenticate(secret, EDITORS) is None
        after = await issue(redis, Role.EDITOR, "after")
        await eventually(lambda: _holds(directory, after))
    finally:
        await directory.stop()
        await redis.aclose()
        server.stop()


async def test_ingest_refuses_a_revoked_editor_key(redis: Redis, redis_url: str) -> None:
    key = await issue(redis, Role.EDITOR, "desk")
    async with AsyncTestClient(app=create_app(Settings(redis_url=redis_url))) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        assert (await client.post("/v1/articles", json=BELARUS_EARLIER)).status_code == 202
        assert await revoke(redis, Role.EDITOR, "desk")

        async def refused() -> bool:
            return (await client.post("/v1/articles", json=BELARUS_EARLIER)).status_code == 401

        await eventually(refused)


async def _holds(directory: CredentialDirectory, secret: str) -> bool:
    return directory.in_step() and directory.holds(secret)


async def _forgot(directory: CredentialDirectory, secret: str) -> bool:
    return directory.in_step() and not directory.holds(secret)


async def _loaded_after(directory: CredentialDirectory, loads: int) -> bool:
    return directory.in_step() and directory.loads > loads


async def test_a_directory_stopped_at_any_moment_of_its_start_stops(redis: Redis, redis_url: str) -> None:
    """redis-py loses a cancellation that arrives while a connection is being set up; stopping
    repeats it (``services.wire.background.finish``)."""
    for steps in range(24):  # loop steps into the start: connecting, the first load, the first read
        directory = CredentialDirectory(redis, redis_url)
        directory.start()
        for _ in range(steps):
            await asyncio.sleep(0)
        await asyncio.wait_for(directory.stop(), 2)
        assert not directory.in_step()
