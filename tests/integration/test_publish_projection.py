"""Publish's projection of an article on a real server: each version's item is stored once (a delivered
version as a reference to its published entry, any other as its item)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
from redis.asyncio import Redis

from schemas.codec import decode_event, encode_json
from schemas.events import ArticleEnriched, ArticleFiled, ArticleKilled, ArticlePublished
from schemas.ninjs import NinjsItem
from schemas.streams import Group, Stream, embargo_key, item_key, stream_key, versions_key
from services.publish.articles import ArticleProjection
from services.publish.core import build_item, killed_item
from services.wire.eventlog import run_scripts
from services.wire.versions import version_items

ARTICLE = "urn:newswire:article:projection-1"
T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)


def _common(version: int) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "article_id": ARTICLE, "version": version, "occurred_at": T0,
            "correlation_id": "test"}


def _delivered_item(version: int, headline: str) -> NinjsItem:
    filed = ArticleFiled(**_common(version), headline=headline, body_html="<p>The ferry sailed at noon.</p>")  # type: ignore[arg-type]
    enriched = ArticleEnriched(**_common(version), source_event_id=filed.event_id, source_entry_id="0-1")  # type: ignore[arg-type]
    return build_item(filed, enriched)


def _published(version: int, item: NinjsItem) -> ArticlePublished:
    return ArticlePublished(**_common(version), source_event_id=str(uuid.uuid4()), item=item)  # type: ignore[arg-type]


async def _last_published(redis: Redis) -> ArticlePublished:
    rows = await redis.xrevrange(stream_key(Stream.PUBLISHED), count=1)
    event = decode_event(rows[0][1])
    assert isinstance(event, ArticlePublished)
    return event


async def _kill(redis: Redis, articles: ArticleProjection, version: int) -> NinjsItem:
    killed = ArticleKilled(**_common(version), reason="legal", category="legal")  # type: ignore[arg-type]
    item = killed_item(await articles.last_item(ARTICLE, 0), killed)
    call = articles.kill_call(Group.LIFECYCLE, 0, source_event_id=killed.event_id, entry_id="0-1",
                              published=_published(version, item))
    result = (await run_scripts(redis, [call]))[0]
    published = await _last_published(redis)
    assert result == (await redis.xrevrange(stream_key(Stream.PUBLISHED), count=1))[0][0]  # delivered: its entry id
    assert published.version == version
    return published.item


async def test_a_delivered_version_is_kept_once_and_a_kill_withdraws_it_from_there(redis: Redis) -> None:
    articles = ArticleProjection(redis)
    first, second = _delivered_item(1, "Ferry sails"), _delivered_item(2, "Ferry sails at noon")
    for version, item in ((1, first), (2, second)):
        call = articles.publish_call(Group.PUBLISH, 0, source_event_id=str(uuid.uuid4()), entry_id="0-1",
                                     published=_published(version, item), release_ms=0)
        await run_scripts(redis, [call])

    assert await articles.state(ARTICLE, 0) == {"published_version": b"2"}  # no second copy of the item
    entries = [entry_id for entry_id, _ in await redis.xrange(stream_key(Stream.PUBLISHED))]
    stored = await redis.hgetall(versions_key(ARTICLE))
    assert stored == {b"1": b"@" + entries[0], b"2": b"@" + entries[1]}  # the items are on the stream only
    assert await version_items(redis, 0, stored) == {b"1": encode_json(first), b"2": encode_json(second)}
    assert await articles.last_item(ARTICLE, 0) == second
    again = articles.publish_call(Group.PUBLISH, 0, source_event_id=str(uuid.uuid4()), entry_id="0-1",
                                  published=_published(2, _delivered_item(2, "Ferry sails at one")), release_ms=0)
    assert (await run_scripts(redis, [again]))[0] == b"stale"  # version 2 enriched a second time
    assert await redis.hgetall(versions_key(ARTICLE)) == stored  # what partners have stays what it points at

    canceled = await _kill(redis, articles, 3)
    assert (canceled.headlines[0].value, canceled.pub_status, canceled.version) == ("Ferry sails at noon", "canceled", "3")
    assert await articles.state(ARTICLE, 0) == {"published_version": b"3", "killed": b"3"}
    stored_kill = await redis.hget(versions_key(ARTICLE), "3")  # type: ignore[misc]
    assert stored_kill == b"@" + (await redis.xrevrange(stream_key(Stream.PUBLISHED), count=1))[0][0]
    assert msgspec.json.decode((await version_items(redis, 0, {3: stored_kill}))[3], type=NinjsItem) == canceled


async def test_a_version_partners_do_not_get_keeps_its_item_until_it_is_released(redis: Redis) -> None:
    """Held, stale and killed versions have no published entry to point at: their item stays in the
    versions hash; a held version released later points at the entry its release wrote."""
    articles = ArticleProjection(redis)
    held, stale = _delivered_item(2, "Budget embargoed"), _delivered_item(1, "Budget drafted")
    release_ms = int(datetime.now(UTC).timestamp() * 1000) + 60_000
    for version, item, release in ((2, held, release_ms), (1, stale, 0)):
        call = articles.publish_call(Group.PUBLISH, 0, source_event_id=str(uuid.uuid4()), entry_id="0-1",
                                     published=_published(version, item), release_ms=release)
        await run_scripts(redis, [call])
    assert await redis.hgetall(versions_key(ARTICLE)) == {b"1": encode_json(stale), b"2": encode_json(held)}
    assert await redis.xlen(stream_key(Stream.PUBLISHED)) == 0
    state = await articles.state(ARTICLE, 0)
    assert state["pending_version"] == b"2" and "pending_item" not in state  # the held item is in the versions hash
    assert await articles.held_item(ARTICLE, 0) == held
    assert await articles.last_item(ARTICLE, 0) == held  # nothing delivered yet: what is held

    await redis.zadd(embargo_key(0), {ARTICLE: 0})  # the embargo is over
    entry_id = await articles.release(ARTICLE, 0)
    assert entry_id is not None
    assert await redis.hget(versions_key(ARTICLE), "2") == f"@{entry_id}".encode()  # type: ignore[misc]
    assert await redis.hget(versions_key(ARTICLE), "1") == encode_json(stale)  # type: ignore[misc]
    assert await articles.last_item(ARTICLE, 0) == held


async def test_an_article_held_by_older_code_reads_its_held_item_from_where_that_code_kept_it(redis: Redis) -> None:
    articles = ArticleProjection(redis)
    held = _delivered_item(1, "Results embargoed")
    await redis.hset(item_key(ARTICLE), mapping={"pending_version": "1", "pending_item": encode_json(held)})
    assert await articles.held_item(ARTICLE, 0) == held
    assert await articles.last_item(ARTICLE, 0) == held


async def test_a_kill_before_anything_was_delivered_keeps_the_canceled_item(redis: Redis) -> None:
    articles = ArticleProjection(redis)
    killed = ArticleKilled(**_common(2), reason="legal", category="legal")  # type: ignore[arg-type]
    item = killed_item(_delivered_item(1, "Never sent"), killed)
    call = articles.kill_call(Group.LIFECYCLE, 0, source_event_id=killed.event_id, entry_id="0-1",
                              published=_published(2, item))
    assert (await run_scripts(redis, [call]))[0] == b"never-delivered"
    assert await redis.hgetall(versions_key(ARTICLE)) == {b"2": encode_json(item)}
    assert await redis.xlen(stream_key(Stream.PUBLISHED)) == 0


async def test_an_article_stored_with_the_older_second_copy_is_killed_from_its_versions_and_loses_the_copy(
        redis: Redis) -> None:
    articles = ArticleProjection(redis)
    item = _delivered_item(1, "Harbour reopens")
    await redis.hset(item_key(ARTICLE), mapping={"published_version": "1", "item": encode_json(item)})
    await redis.hset(versions_key(ARTICLE), "1", encode_json(item))

    canceled = await _kill(redis, articles, 2)
    assert (canceled.headlines[0].value, canceled.pub_status) == ("Harbour reopens", "canceled")
    assert await articles.state(ARTICLE, 0) == {"published_version": b"2", "killed": b"2"}


async def test_a_version_enriched_after_a_newer_one_was_delivered_is_stale_and_never_reaches_partners(
        redis: Redis) -> None:
    """Two enrich processes share one consumer group, so version 2 of an article can come out of
    enrichment before version 1: partners then get version 2 only, never version 1 after it."""
    articles = ArticleProjection(redis)
    older, newer = _delivered_item(1, "Ferry sails"), _delivered_item(2, "Ferry sails at noon")
    results = []
    for version, item in ((2, newer), (1, older)):
        call = articles.publish_call(Group.PUBLISH, 0, source_event_id=str(uuid.uuid4()), entry_id="0-1",
                                     published=_published(version, item), release_ms=0)
        results.append((await run_scripts(redis, [call]))[0])
    assert results[1] == b"stale"
    entries = await redis.xrange(stream_key(Stream.PUBLISHED))
    assert [decode_event(fields).version for _, fields in entries] == [2]  # type: ignore[union-attr]
    assert await articles.state(ARTICLE, 0) == {"published_version": b"2"}
    assert await articles.last_item(ARTICLE, 0) == newer
