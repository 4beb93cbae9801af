"""Bad input: schemathesis against every HTTP API's OpenAPI description, and hostile bodies; never a 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from bench.drills_fuzz import fuzz_both, hostile_requests, pipeline_casualties
from bench.drills_wire import SERVICES, DrillWire, SseFollower
from services.ingest.app import create_app as create_ingest
from services.publish.app import create_app as create_publish
from services.wire.credentials import Role, issue
from services.wire.settings import Durability, Settings

TOO_DEEP = b"[" * 100_000 + b"]" * 100_000


def not_utf8(field: str) -> bytes:
    """A body whose first field (one the route knows) holds bytes that are not UTF-8."""
    return b'{"' + field.encode() + b'": "\xff\xfe"}'


@pytest.fixture
async def wire(tmp_path: Path) -> AsyncIterator[DrillWire]:
    """The three services as processes on a server of their own."""
    drill = DrillWire(tmp_path)
    await drill.open()
    try:
        for name in SERVICES:
            drill.start(name)
        await drill.wait_ready()
        yield drill
    finally:
        await drill.close()


@pytest.mark.e2e
@pytest.mark.timeout(300)
async def test_schema_driven_fuzzing_of_every_http_api_gets_no_5xx(wire: DrillWire) -> None:
    stats = await fuzz_both(wire, await wire.register("fuzz-outlet", ["sse", "feed"]), 20)
    assert stats.server_errors == []
    assert await pipeline_casualties(wire) == []  # nothing it filed made a worker fail
    assert not wire.exited()
    operations = {label.rsplit(" (", 1)[0] for label in stats.operations}
    assert {"POST /v1/articles", "GET /v1/feed", "POST /v1/partners", "PATCH /v1/partners/{name}"} <= operations
    assert "PUT /v1/articles/{article} (positive, existing)" in stats.operations
    # It exercised the APIs: accepted requests and refused ones, not only one kind.
    assert sum(n for status, n in stats.statuses.items() if status < 300) > 0
    assert sum(n for status, n in stats.statuses.items() if 400 <= status < 500) > 0
    assert stats.requests >= 10 * len(operations)


@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_oversize_malformed_and_hostile_requests_are_refused_or_sanitised(wire: DrillWire) -> None:
    follower = SseFollower(wire.partner_url, await wire.register("hostile-outlet", ["sse"]))
    follower.start()
    try:
        hostile = await hostile_requests(wire, follower, Settings().max_body_bytes)
    finally:
        await follower.stop()
    assert hostile.failures == []
    answered = dict(hostile.answers)
    assert answered["oversize body"] == 413
    assert answered["script-laden HTML"] == 202
    assert answered["delivered body sanitised"] == 200


@pytest.mark.parametrize(("method", "path", "field"), [
    ("POST", "/v1/articles", "headline"),
    ("PUT", "/v1/articles/00000000-0000-0000-0000-000000000000", "headline"),
    ("POST", "/v1/articles/00000000-0000-0000-0000-000000000000/kill", "reason"),
])
@pytest.mark.parametrize("deep", [False, True], ids=["not-utf8", "too-deep"])
async def test_undecodable_bodies_are_a_400_on_ingest(redis: Redis, redis_url: str, method: str, path: str, field: str,
                                                       deep: bool) -> None:
    # msgspec raises UnicodeDecodeError and RecursionError for these, not DecodeError: once a 500.
    key = await issue(redis, Role.EDITOR, "desk")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "If-Match": '"1"'}
    async with AsyncTestClient(app=create_ingest(Settings(redis_url=redis_url))) as client:
        response = await client.request(method, path, content=TOO_DEEP if deep else not_utf8(field), headers=headers)
    check_refused(response.status_code, response.json(), deep)


@pytest.mark.parametrize(("method", "path", "field"), [("POST", "/v1/partners", "name"),
                                                     ("PATCH", "/v1/partners/outlet", "status")])
@pytest.mark.parametrize("deep", [False, True], ids=["not-utf8", "too-deep"])
async def test_undecodable_bodies_are_a_400_on_the_admin_api(redis: Redis, redis_url: str, method: str, path: str,
                                                              field: str, deep: bool) -> None:
    key = await issue(redis, Role.ADMIN, "ops")
    settings = Settings(redis_url=redis_url, durability=Durability.NONE)
    async with AsyncTestClient(app=create_publish(settings)) as client:
        response = await client.request(method, path, content=TOO_DEEP if deep else not_utf8(field),
                                        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    check_refused(response.status_code, response.json(), deep)


def check_refused(status: int, problem: dict[str, object], deep: bool) -> None:
    """Not UTF-8 is malformed JSON; deep nesting is that too, or a 422 when the route's type refuses it first."""
    if deep and status == 422:
        assert "Expected `object`, got `array`" in str(problem["detail"])
        return
    assert status == 400, problem
    assert str(problem["type"]).endswith("/malformed-json")
