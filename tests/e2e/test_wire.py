"""The whole wire as real processes: file over HTTP, receive ninjs over SSE."""

from __future__ import annotations

import time

import httpx
import pytest
from jsonschema import Draft202012Validator
from redis import Redis as SyncRedis

from schemas.codec import decode_event
from schemas.events import ArticlePublished
from schemas.streams import Stream, stream_key
from tests.e2e.conftest import Wire, read_sse
from tests.fixtures import BELARUS_EARLIER, RUSSIA_LEAVES_BELARUS

pytestmark = pytest.mark.e2e


def names(item: dict[str, object], field: str) -> set[str]:
    return {entry["name"] for entry in item.get(field, [])}  # type: ignore[attr-defined]


async def test_filed_stories_reach_a_partner_as_tagged_linked_ninjs(wire: Wire, ninjs_validator: Draft202012Validator) -> None:
    first = wire.file(BELARUS_EARLIER)
    (one,) = await read_sse(wire.partner_url, wire.partner_token, count=1, last_event_id="0-0")
    assert one.event == "ninjs"
    assert one.data["uri"] == first["articleId"]
    assert list(ninjs_validator.iter_errors(one.data)) == []

    second = wire.file(RUSSIA_LEAVES_BELARUS)
    (two,) = await read_sse(wire.partner_url, wire.partner_token, count=1, last_event_id=one.id)
    assert two.data["uri"] == second["articleId"]
    assert list(ninjs_validator.iter_errors(two.data)) == []
    assert {"Russia", "Belarus", "Ukraine"} <= names(two.data, "places")
    assert "Wagner Group" in names(two.data, "organisations")
    assert first["articleId"] in {a["uri"] for a in two.data["associations"]}
    assert all(a["rel"] == "related" for a in two.data["associations"])

    # Reconnecting after the last item repeats nothing; from the start gives each item once.
    again = await read_sse(wire.partner_url, wire.partner_token, count=1, last_event_id=two.id, quiet_after=2)
    assert again == []
    everything = await read_sse(wire.partner_url, wire.partner_token, count=3, last_event_id="0-0", quiet_after=2)
    assert [e.data["uri"] for e in everything] == [first["articleId"], second["articleId"]]
    assert len({e.id for e in everything}) == 2


async def test_partner_api_refuses_bad_tokens_and_bad_ids(wire: Wire) -> None:
    async with httpx.AsyncClient() as client:
        anonymous = await client.get(wire.partner_url + "/v1/stream")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        editor = await client.get(wire.partner_url + "/v1/stream", headers={"Authorization": f"Bearer {wire.editor_key}"})
        assert editor.status_code == 401
        bad = await client.get(wire.partner_url + "/v1/stream",
                               headers={"Authorization": f"Bearer {wire.partner_token}", "Last-Event-ID": "yesterday"})
        assert bad.status_code == 400
        assert "Last-Event-ID" in bad.json()["title"]


def test_kill_9_of_enrich_mid_flight_still_publishes_every_story_exactly_once(wire: Wire) -> None:
    redis = SyncRedis.from_url(wire.redis_url)
    published_key = stream_key(Stream.PUBLISHED)
    total = 300
    try:
        wire.stop_all()
        wire.start("ingest")
        wire.wait_ready()
        filed = [wire.file({**BELARUS_EARLIER, "headline": f"Story {n}: " + BELARUS_EARLIER["headline"]}) for n in range(total)]
        wire.start("enrich")
        wire.start("publish")
        deadline = time.monotonic() + 60
        enriched_at_kill = 0
        while time.monotonic() < deadline:
            enriched_at_kill = int(redis.xlen(stream_key(Stream.ENRICHED)))  # type: ignore[arg-type]
            if enriched_at_kill > 0:
                break
            time.sleep(0.002)
        wire.kill("enrich")
        pending_at_kill = redis.xpending(stream_key(Stream.FILED), "enrich")["pending"]  # type: ignore[index]
        assert 0 < enriched_at_kill < total, "the kill did not land mid-flight"
        wire.start("enrich")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and redis.xlen(published_key) < total:  # type: ignore[operator]
            time.sleep(0.1)
        time.sleep(1.5)  # longer than the claim idle time: a duplicate would have shown up by now
        rows = redis.xrange(published_key)
    finally:
        redis.close()
    uris = []
    for _, fields in rows:  # type: ignore[union-attr]
        event = decode_event(fields)
        assert isinstance(event, ArticlePublished)
        uris.append(event.item.uri)
    assert sorted(uris) == sorted(f["articleId"] for f in filed)
    assert len(uris) == len(set(uris)) == total
    print(f"enriched before kill: {enriched_at_kill}, pending in the dead consumer: {pending_at_kill}")
