"""The ingest API against a real Redis: acceptance, idempotency, problems, durability."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from schemas.codec import decode_event
from schemas.events import ArticleFiled
from schemas.streams import Stream, stream_key
from services.ingest.app import create_app
from services.wire.credentials import Role, issue
from services.wire.settings import Durability, Settings
from tests.fixtures import BELARUS_EARLIER

FILED = stream_key(Stream.FILED)


@pytest.fixture
async def client(redis: Redis, redis_url: str) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = Settings(redis_url=redis_url, max_body_bytes=4096)
    key = await issue(redis, Role.EDITOR, "desk")
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {key}"
        yield test_client


async def test_filing_is_accepted_and_readable_with_plain_xrange(client: AsyncTestClient, redis: Redis) -> None:  # type: ignore[type-arg]
    response = await client.post("/v1/articles", json=BELARUS_EARLIER)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["articleId"].startswith("urn:newswire:article:")
    assert body["version"] == 1
    assert response.headers["location"] == "/v1/articles/" + body["articleId"].rsplit(":", 1)[1]
    rows = await redis.xrange(FILED)
    assert len(rows) == 1
    entry_id, fields = rows[0]
    assert entry_id.decode() == body["entryId"]
    assert fields[b"type"] == b"article.filed.v1"
    assert json.loads(fields[b"data"])["headline"] == BELARUS_EARLIER["headline"]
    event = decode_event(fields)
    assert isinstance(event, ArticleFiled)
    assert event.event_id == body["eventId"]
    assert event.filed_by == "desk"


async def test_same_idempotency_key_and_body_give_same_answer_and_one_event(client: AsyncTestClient, redis: Redis) -> None:  # type: ignore[type-arg]
    headers = {"Idempotency-Key": "story-42"}
    first = await client.post("/v1/articles", json=BELARUS_EARLIER, headers=headers)
    second = await client.post("/v1/articles", json=BELARUS_EARLIER, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert await redis.xlen(FILED) == 1
    other = await client.post("/v1/articles", json={**BELARUS_EARLIER, "urgency": 1}, headers=headers)
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert await redis.xlen(FILED) == 1


@pytest.mark.parametrize(
    ("payload", "status", "needle"),
    [
        ({**BELARUS_EARLIER, "colour": "red"}, 422, "colour"),
        ({**BELARUS_EARLIER, "urgency": "3"}, 422, "$.urgency"),
        ({**BELARUS_EARLIER, "urgency": 12}, 422, "$.urgency"),
        ({**BELARUS_EARLIER, "headline": "   "}, 422, "$.headline"),
        ({**BELARUS_EARLIER, "headline": ""}, 422, "headline"),
        ({"body": "<p>no headline</p>"}, 422, "headline"),
        ({**BELARUS_EARLIER, "body": "<p>" + "word " * 2000 + "</p>"}, 413, "limit"),
        ({**BELARUS_EARLIER, "body": "<script>alert(1)</script>"}, 422, "no text"),
        ({**BELARUS_EARLIER, "embargoedUntil": "2030-01-01T10:00:00"}, 422, "time zone"),
    ],
)
async def test_bad_filings_get_a_problem_not_a_500(
    client: AsyncTestClient, redis: Redis, payload: dict[str, object], status: int, needle: str  # type: ignore[type-arg]
) -> None:
    response = await client.post("/v1/articles", json=payload)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert needle in json.dumps(problem)
    assert await redis.xlen(FILED) == 0


async def test_malformed_json_and_oversize_requests(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    for body, content_type in ((b"{not json", "application/json"), (b"hello", "text/plain")):
        response = await client.post("/v1/articles", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        # the same problem type as the partner API's admin routes give for a body that is not JSON
        assert response.json()["type"].endswith("/malformed-json"), response.text
        assert response.json()["detail"].startswith("the request body is not valid JSON: ")
    huge = await client.post("/v1/articles", content=b"x" * (200 * 1024), headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    assert huge.headers["content-type"].startswith("application/problem+json")


async def test_html_is_sanitised(client: AsyncTestClient, redis: Redis) -> None:  # type: ignore[type-arg]
    hostile = '<p onclick="steal()">Text <a href="javascript:alert(1)">x</a><script>alert(2)</script><img src=x onerror=y></p>'
    response = await client.post("/v1/articles", json={**BELARUS_EARLIER, "body": hostile})
    assert response.status_code == 202
    event = decode_event((await redis.xrange(FILED))[0][1])
    assert isinstance(event, ArticleFiled)
    for bad in ("script", "onclick", "javascript:", "onerror", "<img"):
        assert bad not in event.body_html
    assert "Text" in event.body_html


async def test_authentication(client: AsyncTestClient, redis: Redis) -> None:  # type: ignore[type-arg]
    for header in ("", "Bearer nwe_wrong", "Basic abc"):
        response = await client.post("/v1/articles", json=BELARUS_EARLIER, headers={"Authorization": header})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
    partner = await issue(redis, Role.PARTNER, "outlet")
    response = await client.post("/v1/articles", json=BELARUS_EARLIER, headers={"Authorization": f"Bearer {partner}"})
    assert response.status_code == 401
    assert await redis.xlen(FILED) == 0


async def test_keys_are_stored_only_as_hashes(redis: Redis) -> None:
    secret = await issue(redis, Role.EDITOR, "someone")
    dump = b"".join(k + v for k, v in (await redis.hgetall("nw:{registry}:credentials")).items())
    dump += b"".join(f for _, e in await redis.xrange("nw:{registry}:events") for f in e.values())
    assert secret.encode() not in dump


async def test_durability_mismatch_stops_ingest_at_start_with_a_clear_message(redis: Redis, redis_url: str) -> None:
    await redis.config_set("appendfsync", "everysec")
    try:
        settings = Settings(redis_url=redis_url, durability=Durability.ALWAYS)
        with pytest.raises(BaseException) as raised:
            async with AsyncTestClient(app=create_app(settings)):
                pass
        assert "'appendfsync always'" in repr(_leaves(raised.value))
        relaxed = Settings(redis_url=redis_url, durability=Durability.EVERYSEC)
        key = await issue(redis, Role.EDITOR, "desk2")
        async with AsyncTestClient(app=create_app(relaxed)) as test_client:
            response = await test_client.post("/v1/articles", json=BELARUS_EARLIER, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 202
    finally:
        await redis.config_set("appendfsync", "always")


async def test_unknown_route_is_a_problem(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_openapi_document_describes_the_filing(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/docs/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/v1/articles" in paths
    bodies = {
        ("post", "/v1/articles"): "headline",
        ("put", "/v1/articles/{article}"): "headline",
        ("post", "/v1/articles/{article}/corrections"): "correctionNote",
        ("post", "/v1/articles/{article}/kill"): "reason",
        ("put", "/v1/articles/{article}/embargo"): "embargoedUntil",
    }
    components = response.json()["components"]["schemas"]
    for (method, path), field in bodies.items():
        schema = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        name = schema["$ref"].rsplit("/", 1)[1]
        assert field in components[name]["properties"], (method, path, name)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def test_unreachable_redis_is_a_503_with_retry_after(redis: Redis) -> None:
    from services.wire.redis_server import free_port

    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        response = await test_client.post("/v1/articles", json=BELARUS_EARLIER, headers={"Authorization": "Bearer nwe_x"})
        health = await test_client.get("/health")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert health.status_code == 503


async def test_a_server_that_stops_keeping_the_promise_gets_no_more_202s(
        redis: Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ingest checked the server once at start; a server restarted or replaced with weaker settings
    # kept getting filings answered 202 "on disk". It is checked again every few seconds (here: always).
    import services.ingest.app as ingest_app

    monkeypatch.setattr(ingest_app, "DURABILITY_RECHECK_S", 0.0)
    key = await issue(redis, Role.EDITOR, "desk3")
    headers = {"Authorization": f"Bearer {key}"}
    async with AsyncTestClient(app=create_app(Settings(redis_url=redis_url, durability=Durability.ALWAYS))) as client:
        first = await client.post("/v1/articles", json=BELARUS_EARLIER, headers=headers)
        assert first.status_code == 202
        article = first.json()["location"]
        await redis.config_set("appendfsync", "everysec")
        try:
            refused = await client.post("/v1/articles", json=BELARUS_EARLIER, headers=headers)
            update = await client.put(article, json=BELARUS_EARLIER, headers={**headers, "If-Match": '"1"'})
        finally:
            await redis.config_set("appendfsync", "always")
        again = await client.post("/v1/articles", json=BELARUS_EARLIER, headers=headers)
    assert refused.status_code == update.status_code == 503
    assert refused.json()["type"].endswith("/durability") and update.json()["type"].endswith("/durability")
    assert again.status_code == 202
    assert await redis.xlen(FILED) == 2


@pytest.mark.parametrize(
    ("method", "suffix", "body", "field"),
    [
        ("post", "/kill", {"reason": 5}, "$.reason"),
        ("post", "/kill", {"reason": "legal", "extra": 1}, "$"),
        ("put", "/embargo", {"embargoedUntil": "soon"}, "$.embargoedUntil"),
        ("post", "/corrections", {"headline": "h", "body": "<p>b</p>"}, "$"),
        ("put", "", {"headline": 3, "body": "<p>b</p>"}, "$.headline"),
    ],
)
async def test_a_bad_command_body_is_named_by_its_own_fields(  # type: ignore[type-arg]
    client: AsyncTestClient, method: str, suffix: str, body: dict[str, object], field: str
) -> None:
    filed = await client.post("/v1/articles", json=BELARUS_EARLIER)
    assert filed.status_code == 202
    path = filed.json()["location"] + suffix
    response = await client.request(method.upper(), path, json=body, headers={"If-Match": '"1"'})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["errors"][0]["field"] == field, problem
    assert "headline" not in problem["detail"] or field == "$.headline", problem
