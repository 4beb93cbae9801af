"""Partner delivery by stream and feed, with filters, resume and isolation, on a real server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from schemas.codec import encode_event
from schemas.events import ArticlePublished
from schemas.ninjs import Named, NinjsItem, Subject
from schemas.partners import Filters
from schemas.streams import Stream, stream_key
from services.publish.app import create_app
from services.publish.partners import PARTNERS, PartnerRegistry
from services.wire.credentials import Role, issue
from services.wire.redis_server import free_port
from services.wire.settings import Settings

PUBLISHED = stream_key(Stream.PUBLISHED)
WAR = Subject(name="conflict, war and peace", uri="http://cv.iptc.org/newscodes/mediatopic/16000000", rel="about")
SPORT = Subject(name="sport", uri="http://cv.iptc.org/newscodes/mediatopic/15000000", rel="about")


def item(uri: str, *, version: int = 1, places: tuple[str, ...] = (), subjects: tuple[Subject, ...] = (),
         urgency: int = 5, status: str = "usable") -> NinjsItem:
    return NinjsItem(uri=uri, type="text", pub_status=status, version=str(version), urgency=urgency, language="en",  # type: ignore[arg-type]
                     places=[Named(name=p, literal=f"geo:{p.lower()}") for p in places], subjects=list(subjects))


async def publish(redis: Redis, ninjs: NinjsItem) -> str:
    event = ArticlePublished(event_id=str(uuid.uuid4()), article_id=ninjs.uri, version=int(ninjs.version or 1),
                             occurred_at=datetime.now(UTC), correlation_id="c", source_event_id="s", item=ninjs)
    return (await redis.xadd(PUBLISHED, encode_event(event))).decode()  # type: ignore[arg-type]


class Api:
    def __init__(self, url: str, registry: PartnerRegistry, admin_key: str) -> None:
        self.url = url
        self.registry = registry
        self.admin_key = admin_key

    async def partner(self, name: str, filters: Filters, modes: list[str] | None = None) -> str:
        _, token, _ = await self.registry.register(name, modes=modes or ["sse", "feed"], filters=filters,  # type: ignore[arg-type]
                                                   webhook_url=None, actor="test", now=datetime.now(UTC))
        return token

    async def feed(self, token: str, **params: Any) -> httpx.Response:
        async with httpx.AsyncClient(timeout=40) as client:
            return await client.get(self.url + "/v1/feed", params=params, headers={"Authorization": f"Bearer {token}"})

    async def stream(
        self, token: str, count: int, *, quiet: float = 1.5, **headers_or_params: str
    ) -> list[tuple[str, dict[str, Any]]]:
        headers = {"Authorization": f"Bearer {token}"}
        params = {}
        for key, value in headers_or_params.items():
            if key == "last_event_id":
                headers["Last-Event-ID"] = value
            else:
                params[key] = value
        got: list[tuple[str, dict[str, Any]]] = []

        async def read() -> None:
            async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as client, \
                    client.stream("GET", self.url + "/v1/stream", headers=headers, params=params) as response:
                assert response.status_code == 200, await response.aread()
                current: dict[str, str] = {}
                async for line in response.aiter_lines():
                    if line == "" and "data" in current:
                        got.append((current["id"], json.loads(current["data"])))
                        current = {}
                        if len(got) >= count:
                            return
                    elif line and not line.startswith(":"):
                        key, _, value = line.partition(": ")
                        current[key] = value

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(read(), quiet)
        return got


@pytest.fixture
async def api(redis: Redis, redis_url: str) -> AsyncIterator[Api]:
    port = free_port()
    settings = Settings(redis_url=redis_url, heartbeat_s=0.2, consumer_name=f"t{port}")
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None,
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    admin_key = await issue(redis, Role.ADMIN, "ops")
    try:
        yield Api(f"http://127.0.0.1:{port}", PartnerRegistry(redis), admin_key)
    finally:
        server.should_exit = True
        await task


async def test_filters_apply_to_stream_and_feed(api: Api, redis: Redis) -> None:
    belarus = await api.partner("belarus-desk", Filters(places=["belarus", "geo:minsk"]))
    sport = await api.partner("sport-desk", Filters(subjects=["medtop:15000000"]))
    urgent = await api.partner("flash-desk", Filters(min_urgency=2))
    await publish(redis, item("urn:a", places=("Belarus",), subjects=(WAR,), urgency=3))
    await publish(redis, item("urn:b", subjects=(SPORT,), urgency=5))
    await publish(redis, item("urn:c", places=("Ukraine",), urgency=1))
    await publish(redis, item("urn:d", places=("Minsk",), urgency=2))  # matched by its id
    expected = {belarus: ["urn:a", "urn:d"], sport: ["urn:b"], urgent: ["urn:c", "urn:d"]}
    for token, uris in expected.items():
        page = (await api.feed(token, since="2000-01-01T00:00:00Z")).json()
        assert [i["uri"] for i in page["items"]] == uris
        streamed = await api.stream(token, 10, last_event_id="0-0")
        assert [data["uri"] for _, data in streamed] == uris


async def test_resume_by_id_and_by_time_without_duplicates(api: Api, redis: Redis) -> None:
    token = await api.partner("all", Filters())
    ids = [await publish(redis, item(f"urn:{n}")) for n in range(6)]
    first = await api.stream(token, 2, last_event_id="0-0")
    assert [d["uri"] for _, d in first] == ["urn:0", "urn:1"]
    assert first[-1][0] == ids[1]
    rest = await api.stream(token, 10, last_event_id=first[-1][0])
    assert [d["uri"] for _, d in rest] == ["urn:2", "urn:3", "urn:4", "urn:5"]
    assert await api.stream(token, 1, last_event_id=rest[-1][0]) == []
    since_ms = int(ids[3].split("-")[0])
    since = datetime.fromtimestamp(since_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    by_time = await api.stream(token, 10, since=since)
    uris = [d["uri"] for _, d in by_time]
    assert "urn:3" in uris  # everything written at or after the time, whatever came in the same millisecond
    assert uris[uris.index("urn:3"):] == ["urn:3", "urn:4", "urn:5"]
    assert all(int(position.split("-")[0]) >= since_ms for position, _ in by_time)
    live = asyncio.create_task(api.stream(token, 1, quiet=5))  # no id: only what comes next
    await asyncio.sleep(0.5)
    await publish(redis, item("urn:new"))
    assert [d["uri"] for _, d in await live] == ["urn:new"]


async def test_feed_cursor_paging_and_long_poll(api: Api, redis: Redis) -> None:
    token = await api.partner("puller", Filters())
    for n in range(5):
        await publish(redis, item(f"urn:{n}"))
    page1 = (await api.feed(token, since="2000-01-01T00:00:00Z", limit=3)).json()
    page2 = (await api.feed(token, cursor=page1["next"], limit=3)).json()
    assert [i["uri"] for i in page1["items"] + page2["items"]] == [f"urn:{n}" for n in range(5)]
    waiting = asyncio.create_task(api.feed(token, cursor=page2["next"], wait=10))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await publish(redis, item("urn:late"))
    page3 = (await waiting).json()
    assert [i["uri"] for i in page3["items"]] == ["urn:late"]
    empty = (await api.feed(token, cursor=page3["next"])).json()
    assert empty["items"] == []
    bad = await api.feed(token, cursor="c1.not-a-cursor")
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_bad_parameters_are_named_with_where_they_were_and_what_was_wrong(api: Api) -> None:
    token = await api.partner("puller", Filters())
    bad = await api.feed(token, limit=0, wait="soon")
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    problem = bad.json()
    assert problem["type"].endswith("/invalid-parameters")
    assert sorted((e["field"], e["in"]) for e in problem["errors"]) == [("limit", "query"), ("wait", "query")]
    assert "query parameter 'limit': Expected `int` >= 1" in problem["detail"]
    assert all(e["message"] for e in problem["errors"])


async def test_kills_and_new_versions_reach_prior_recipients_whatever_their_filters(api: Api, redis: Redis) -> None:
    reader = await api.partner("reader", Filters(places=["Belarus"]))
    other = await api.partner("other", Filters(subjects=["sport"]))
    await publish(redis, item("urn:story", places=("Belarus",)))
    got = (await api.feed(reader, since="2000-01-01T00:00:00Z")).json()
    assert [i["uri"] for i in got["items"]] == ["urn:story"]
    await api.registry.change("reader", lambda p: msgspec.structs.replace(p, filters=Filters(places=["Chile"])),
                              actor="test", reason="narrowed", now=datetime.now(UTC))
    await asyncio.sleep(1.2)  # the directory refreshes within a second
    await publish(redis, item("urn:story", version=2, status="canceled"))
    await publish(redis, item("urn:unrelated", places=("Belarus",)))
    after = (await api.feed(reader, cursor=got["next"])).json()
    assert [(i["uri"], i["pubStatus"]) for i in after["items"]] == [("urn:story", "canceled")]
    others = (await api.feed(other, since="2000-01-01T00:00:00Z")).json()
    assert others["items"] == []


async def test_tokens_are_isolated(api: Api, redis: Redis) -> None:
    mine = await api.partner("mine", Filters(places=["Belarus"]))
    await api.partner("theirs", Filters(places=["Chile"]))
    await publish(redis, item("urn:chile", places=("Chile",)))
    assert (await api.feed(mine, since="2000-01-01T00:00:00Z")).json()["items"] == []
    async with httpx.AsyncClient() as client:
        auth = {"Authorization": f"Bearer {mine}"}
        assert (await client.get(api.url + "/v1/partners", headers=auth)).status_code == 401
        assert (await client.get(api.url + "/v1/partners/theirs", headers=auth)).status_code == 401
        assert (await client.patch(api.url + "/v1/partners/theirs", headers=auth, json={"status": "paused"})).status_code == 401
        own = (await client.get(api.url + "/v1/partner", headers=auth)).json()
        assert own["name"] == "mine"
        await api.registry.change("mine", lambda p: msgspec.structs.replace(p, status="paused"),
                                  actor="test", reason="", now=datetime.now(UTC))
        await asyncio.sleep(1.2)
        paused = await client.get(api.url + "/v1/feed", headers=auth)
        assert paused.status_code == 403
        await api.registry.remove("mine", actor="test", now=datetime.now(UTC))
        assert (await client.get(api.url + "/v1/feed", headers=auth)).status_code == 401
        assert (await client.get(api.url + "/v1/stream", headers=auth)).status_code == 401


async def test_admin_api(api: Api, redis: Redis) -> None:
    admin = {"Authorization": f"Bearer {api.admin_key}"}
    async with httpx.AsyncClient() as client:
        created = await client.post(api.url + "/v1/partners", headers=admin, json={
            "name": "wire-buyer", "modes": ["sse", "feed"], "filters": {"places": ["Belarus"], "minUrgency": 4}})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["token"].startswith("nwp_")
        assert body["partner"]["filters"]["minUrgency"] == 4
        duplicate = await client.post(api.url + "/v1/partners", headers=admin, json={"name": "wire-buyer"})
        assert duplicate.status_code == 409
        invalid = await client.post(api.url + "/v1/partners", headers=admin, json={"name": "x y", "colour": 1})
        assert invalid.status_code == 422
        assert invalid.headers["content-type"].startswith("application/problem+json")
        patched = await client.patch(api.url + "/v1/partners/wire-buyer", headers=admin,
                                     json={"filters": {"subjects": ["medtop:16000000"]}, "status": "paused"})
        assert patched.status_code == 200, patched.text
        assert patched.json()["partner"]["status"] == "paused"
        listed = await client.get(api.url + "/v1/partners", headers=admin)
        assert [p["name"] for p in listed.json()] == ["wire-buyer"]
        assert "secret" not in listed.text.lower().replace("secrets", "")
        feed = await client.get(api.url + "/v1/feed", headers={"Authorization": f"Bearer {body['token']}"})
        assert feed.status_code == 403
        missing = await client.get(api.url + "/v1/partners/nobody", headers=admin)
        assert missing.status_code == 404
        removed = await client.delete(api.url + "/v1/partners/wire-buyer", headers=admin)
        assert removed.status_code == 204
        assert (await client.get(api.url + "/v1/partners", headers=admin)).json() == []
    events = [type(e).__name__ for e in await api.registry.events()]
    assert events == ["PartnerRegistered", "PartnerChanged", "PartnerRemoved"]




async def test_a_subject_filter_must_name_an_iptc_media_topic(api: Api, redis: Redis) -> None:
    """No item can carry a subject outside the IPTC Media Topics, so a filter on one would silently
    deliver nothing: it is refused, with the closest topic's name when there is one."""
    admin = {"Authorization": f"Bearer {api.admin_key}"}
    async with httpx.AsyncClient() as client:
        typo = await client.post(api.url + "/v1/partners", headers=admin, json={
            "name": "sports-desk", "filters": {"subjects": ["medtop:16000000", "sprot"]}})
        assert typo.status_code == 422, typo.text
        problem = typo.json()
        assert problem["type"].endswith("/invalid-partner")
        assert problem["errors"][0]["field"] == "$.filters.subjects[1]"
        assert "'sprot' names no IPTC Media Topic" in problem["detail"] and "did you mean 'sport'?" in problem["detail"]
        assert await api.registry.get("sports-desk") is None
        # a code, its URI or its name, in any case
        spellings = ["medtop:15000000", "http://cv.iptc.org/newscodes/mediatopic/16000000", "Weather"]
        created = await client.post(api.url + "/v1/partners", headers=admin, json={
            "name": "sports-desk", "filters": {"subjects": spellings}})
        assert created.status_code == 201, created.text
        patched = await client.patch(api.url + "/v1/partners/sports-desk", headers=admin,
                                     json={"filters": {"subjects": ["medtop:99999999"]}})
        assert patched.status_code == 422, patched.text
        assert (await api.registry.get("sports-desk")).filters.subjects == spellings  # type: ignore[union-attr]
    # a partner registered before the check keeps its filters through other changes
    await api.registry.register("legacy", modes=["feed"], filters=Filters(places=["Minsk"]), webhook_url=None,
                                actor="test", now=datetime.now(UTC))
    await redis.hset(PARTNERS, "legacy", msgspec.json.encode(msgspec.structs.replace(
        await api.registry.get("legacy"), filters=Filters(subjects=["local news"]))))  # type: ignore[arg-type]
    paused = await api.registry.change("legacy", lambda p: msgspec.structs.replace(p, status="paused"),
                                       actor="test", reason="", now=datetime.now(UTC))
    assert paused.status == "paused" and paused.filters.subjects == ["local news"]


async def test_with_two_partitions_events_carry_both_positions_and_whole_items(redis: Redis, redis_url: str) -> None:
    port = free_port()
    settings = Settings(redis_url=redis_url, heartbeat_s=0.2, consumer_name=f"t{port}", partitions=2)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None,
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        api = Api(f"http://127.0.0.1:{port}", PartnerRegistry(redis), await issue(redis, Role.ADMIN, "ops"))
        token = await api.partner("both", Filters(places=["belarus"]))
        written = []
        for n, place in enumerate(["Belarus", "Ukraine", "Belarus", "Belarus"]):
            event = ArticlePublished(event_id=str(uuid.uuid4()), article_id=f"urn:p{n}", version=1,
                                     occurred_at=datetime.now(UTC), correlation_id="c", source_event_id="s",
                                     item=item(f"urn:p{n}", places=(place,)))
            key = stream_key(Stream.PUBLISHED, n % 2)
            written.append((await redis.xadd(key, encode_event(event))).decode())  # type: ignore[arg-type]
        streamed = await api.stream(token, 10, last_event_id="0-0.0-0")
        assert sorted(d["uri"] for _, d in streamed) == ["urn:p0", "urn:p2", "urn:p3"]
        assert all(d["places"] == [{"name": "Belarus", "literal": "geo:belarus"}] for _, d in streamed)
        assert streamed[-1][0] == f"{written[2]}.{written[3]}"  # the last event's id holds both positions
        assert await api.stream(token, 1, last_event_id=streamed[-1][0]) == []
        page = (await api.feed(token, since="2000-01-01T00:00:00Z")).json()
        assert sorted(i["uri"] for i in page["items"]) == ["urn:p0", "urn:p2", "urn:p3"]
    finally:
        server.should_exit = True
        await task


async def test_metrics_need_an_admin_key_and_give_the_wire_status(api: Api, redis: Redis) -> None:
    await publish(redis, item("urn:newswire:article:m1"))
    async with httpx.AsyncClient(timeout=10) as client:
        refused = await client.get(api.url + "/metrics")
        assert refused.status_code == 401
        partner = await api.partner("outlet", Filters())
        as_partner = await client.get(api.url + "/metrics", headers={"Authorization": f"Bearer {partner}"})
        assert as_partner.status_code == 401
        response = await client.get(api.url + "/metrics", headers={"Authorization": f"Bearer {api.admin_key}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, s.labels.get("stream"), s.labels.get("group")): s.value
               for family in text_string_to_metric_families(response.text) for s in family.samples}
    assert samples[("newswire_stream_entries", "published", None)] == 1
    assert ("newswire_group_pending_entries", "published", "webhooks") in samples  # publish's own fan-out group
    assert samples[("newswire_partner_active", None, None)] == 1
