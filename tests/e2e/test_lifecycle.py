"""The article lifecycle through the real services: versions, corrections, kills, embargoes."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from redis.asyncio import Redis

from schemas.partners import Filters
from services.publish.partners import PartnerRegistry
from tests.e2e.conftest import Wire
from tests.fixtures import BELARUS_EARLIER, UNRELATED_SPORT

pytestmark = pytest.mark.e2e
SINCE = "2000-01-01T00:00:00Z"


def path(article_id: str) -> str:
    return "/v1/articles/" + article_id.rsplit(":", 1)[1]


class Desk:
    """An editor and partners talking to the running wire."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.editor = {"Authorization": f"Bearer {wire.editor_key}"}

    def command(self, method: str, article_id: str, suffix: str = "", *, json: Any = None,
                if_match: str | None = None) -> httpx.Response:
        headers = dict(self.editor)
        if if_match is not None:
            headers["If-Match"] = if_match
        return httpx.request(method, self.wire.ingest_url + path(article_id) + suffix, json=json, headers=headers,
                             timeout=10)

    def feed(self, token: str) -> list[dict[str, Any]]:
        response = httpx.get(self.wire.partner_url + "/v1/feed", params={"since": SINCE, "limit": 100},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def wait_feed(self, token: str, check: Any, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            items = self.feed(token)
            if check(items):
                return items
            if time.monotonic() > deadline:
                raise AssertionError(f"feed never satisfied the check: {[(i['uri'], i.get('version')) for i in items]}")
            time.sleep(0.1)


async def add_partner(wire: Wire, name: str, filters: Filters) -> str:
    redis = Redis.from_url(wire.redis_url)
    try:
        _, token, _ = await PartnerRegistry(redis).register(name, modes=["sse", "feed"], filters=filters,
                                                            webhook_url=None, actor="test", now=datetime.now(UTC))
    finally:
        await redis.aclose()
    await asyncio.sleep(1.2)  # the publish process picks partners up within a second
    return token


async def set_filters(wire: Wire, name: str, filters: Filters) -> None:
    redis = Redis.from_url(wire.redis_url)
    try:
        await PartnerRegistry(redis).change(name, lambda p: msgspec.structs.replace(p, filters=filters), actor="test",
                                            reason="", now=datetime.now(UTC))
    finally:
        await redis.aclose()
    await asyncio.sleep(1.2)


def test_update_and_correction_are_new_versions_of_the_same_uri(wire: Wire) -> None:
    desk = Desk(wire)
    filed = wire.file(BELARUS_EARLIER)
    article = filed["articleId"]
    desk.wait_feed(wire.partner_token, lambda items: len(items) == 1)
    missing = desk.command("PUT", article, json={**BELARUS_EARLIER, "headline": "No If-Match"})
    assert missing.status_code == 428
    updated = desk.command("PUT", article, json={**BELARUS_EARLIER, "headline": "Belarus opens a third ground"},
                           if_match='"1"')
    assert updated.status_code == 202, updated.text
    assert updated.json()["version"] == 2
    assert updated.headers["etag"] == '"2"'
    corrected = desk.command("POST", article, "/corrections", if_match='"2"', json={
        **BELARUS_EARLIER, "headline": "Belarus opens a third training ground", "correctionNote": "The ground is the third."})
    assert corrected.status_code == 202, corrected.text
    items = desk.wait_feed(wire.partner_token, lambda items: len(items) == 3)
    assert [(i["uri"], i["version"]) for i in items] == [(article, "1"), (article, "2"), (article, "3")]
    assert items[2]["edNote"] == "Correction: The ground is the third."
    assert items[2]["headlines"][0]["value"] == "Belarus opens a third training ground"
    assert items[2]["firstCreated"] == items[0]["firstCreated"]
    stale = desk.command("PUT", article, json=BELARUS_EARLIER, if_match='"2"')
    assert stale.status_code == 412
    assert stale.json()["currentVersion"] == 3
    current = httpx.get(wire.ingest_url + path(article), headers=desk.editor).json()
    assert current["version"] == "3"
    first = httpx.get(wire.ingest_url + path(article) + "/versions/1", headers=desk.editor).json()
    assert first["headlines"][0]["value"] == BELARUS_EARLIER["headline"]
    history = httpx.get(wire.ingest_url + path(article) + "/events", headers=desk.editor).json()
    types = [h["event"]["type"] for h in history]
    assert types[0] == "article.filed.v1"
    assert types.count("article.published.v1") == 3
    assert "article.updated.v1" in types
    assert "article.corrected.v1" in types


def test_of_two_concurrent_updates_on_one_version_exactly_one_wins(wire: Wire) -> None:
    desk = Desk(wire)
    article = wire.file(BELARUS_EARLIER)["articleId"]

    async def race() -> list[int]:
        async with httpx.AsyncClient(headers={**desk.editor, "If-Match": '"1"'}, timeout=10) as client:
            responses = await asyncio.gather(*(
                client.put(wire.ingest_url + path(article), json={**BELARUS_EARLIER, "headline": f"Take {n}"})
                for n in range(8)))
        return sorted(r.status_code for r in responses)

    assert asyncio.run(race()) == [202] + [412] * 7
    state = httpx.get(wire.ingest_url + path(article) + "/events", headers=desk.editor).json()
    assert [h["event"]["type"] for h in state].count("article.updated.v1") == 1


async def test_kill_reaches_every_prior_recipient_whatever_its_filters_now(wire: Wire) -> None:
    desk = Desk(wire)
    belarus = await add_partner(wire, "belarus-desk", Filters(places=["Belarus"]))
    weather = await add_partner(wire, "weather-desk", Filters(subjects=["weather"]))
    article = wire.file(BELARUS_EARLIER)["articleId"]
    desk.wait_feed(belarus, lambda items: [i["uri"] for i in items] == [article])
    page = httpx.get(wire.partner_url + "/v1/feed", params={"since": SINCE},
                     headers={"Authorization": f"Bearer {belarus}"}).json()
    await set_filters(wire, "belarus-desk", Filters(places=["Chile"]))
    killed = desk.command("POST", article, "/kill", json={"reason": "legal advice", "category": "legal"})
    assert killed.status_code == 202, killed.text
    after = httpx.get(wire.partner_url + "/v1/feed", params={"cursor": page["next"], "wait": 15},
                      headers={"Authorization": f"Bearer {belarus}"}, timeout=20).json()
    assert [(i["uri"], i["pubStatus"]) for i in after["items"]] == [(article, "canceled")]
    assert after["items"][0]["edNote"] == "Withdrawn (legal): legal advice"
    everything = desk.wait_feed(wire.partner_token, lambda items: len(items) == 2)
    assert [i["pubStatus"] for i in everything] == ["usable", "canceled"]
    assert desk.feed(weather) == []
    again = desk.command("PUT", article, json=BELARUS_EARLIER, if_match='"2"')
    assert again.status_code == 409


def test_a_kill_before_the_embargo_passes_means_nothing_is_ever_delivered(wire: Wire) -> None:
    desk = Desk(wire)
    until = datetime.now(UTC) + timedelta(seconds=8)  # ample time to kill it first, even on a busy machine
    article = wire.file({**BELARUS_EARLIER, "embargoedUntil": until.isoformat()})["articleId"]
    wire.file(UNRELATED_SPORT)  # a marker that the pipeline has moved past the embargoed story
    desk.wait_feed(wire.partner_token, lambda items: len(items) == 1)
    held = httpx.get(wire.ingest_url + path(article), headers=desk.editor).json()
    assert held["pubStatus"] == "withheld"
    assert desk.command("POST", article, "/kill", json={"reason": "story did not stand up"}).status_code == 202
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.5)
    assert all(i["uri"] != article for i in desk.feed(wire.partner_token))


def test_embargo_is_released_after_a_restart_of_the_publish_worker(wire: Wire) -> None:
    desk = Desk(wire)
    until = datetime.now(UTC) + timedelta(seconds=8)  # ample time to build and hold it first
    article = wire.file({**BELARUS_EARLIER, "embargoedUntil": until.isoformat()})["articleId"]
    deadline = time.monotonic() + 20
    while httpx.get(wire.ingest_url + path(article), headers=desk.editor).json().get("headlines") is None:
        assert time.monotonic() < deadline, "the embargoed version was never built"
        time.sleep(0.1)
    assert desk.feed(wire.partner_token) == []
    wire.kill("publish")
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.5)
    wire.start("publish")
    wire.wait_ready()
    items = desk.wait_feed(wire.partner_token, lambda items: len(items) == 1)
    assert items[0]["uri"] == article
    assert items[0]["pubStatus"] == "usable"
    assert items[0]["embargoedUntil"].startswith(until.strftime("%Y-%m-%dT%H:%M:%S"))


def test_lifting_an_embargo_releases_the_item_at_once(wire: Wire) -> None:
    desk = Desk(wire)
    until = datetime.now(UTC) + timedelta(hours=6)
    article = wire.file({**BELARUS_EARLIER, "embargoedUntil": until.isoformat()})["articleId"]
    lifted = desk.command("PUT", article, "/embargo", json={"embargoedUntil": None})
    assert lifted.status_code == 202, lifted.text
    items = desk.wait_feed(wire.partner_token, lambda items: len(items) == 1)
    assert items[0]["uri"] == article
    assert items[0]["version"] == "2"
    assert "embargoedUntil" not in items[0]
