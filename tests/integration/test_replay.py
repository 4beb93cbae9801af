"""Replay against a real server: a log of a few thousand mixed events written by the real scripts,
rebuilt into fresh keys, compared with the live projections, repaired by a switch."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from schemas.codec import encode_event
from schemas.events import (
    ArticleCorrected,
    ArticleEnriched,
    ArticleFiled,
    ArticleKilled,
    ArticlePublished,
    ArticleUpdated,
    EmbargoChanged,
    Event,
)
from schemas.ninjs import NinjsItem
from schemas.partners import Filters
from schemas.streams import (
    Group,
    Stream,
    article_key,
    history_key,
    item_key,
    partition_of,
    registry_key,
    stream_key,
    versions_key,
)
from services.publish.app import LifecycleHandler, PublishHandler
from services.publish.articles import ArticleProjection, EmbargoReleaser
from services.publish.partners import PartnerRegistry
from services.wire.credentials import Role, issue, revoke
from services.wire.eventlog import EventLog
from services.wire.replay import ReplayReport, embargo_ms, replay
from services.wire.settings import Settings
from services.wire.versions import version_items

PARTITIONS = 3
ARTICLES = 500


def _common(article: str, version: int) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "article_id": article, "version": version,
            "occurred_at": datetime.now(UTC), "correlation_id": str(uuid.uuid4())}


def _content(cls: type, article: str, version: int, embargo: datetime | None, **extra: object) -> Event:
    event: Event = cls(**_common(article, version), headline=f"{article} v{version}", body_html="<p>text</p>",
                       embargoed_until=embargo, **extra)
    return event


async def _publish(projection: ArticleProjection, article: str, version: int, partitions: int) -> None:
    partition = partition_of(article, partitions)
    item = NinjsItem(uri=article, type="text", pub_status="usable", version=str(version))
    published = ArticlePublished(**_common(article, version), source_event_id=str(uuid.uuid4()), item=item)  # type: ignore[arg-type]
    script, keys, args = projection.publish_call(Group.PUBLISH, partition, source_event_id=published.source_event_id,
                                                 entry_id="0-1", published=published, release_ms=0)
    await script(keys=keys, args=args)


async def _run(handler: LifecycleHandler | PublishHandler, event: Event, entry_id: str, partitions: int) -> None:
    call = await handler.handle(event, entry_id, partition_of(event.article_id, partitions))  # type: ignore[arg-type]
    if call is not None:
        script, keys, args = call
        await script(keys=keys, args=args)


async def _article_life(log: EventLog, projection: ArticleProjection, rng: random.Random, n: int) -> int:
    """File one article and put it through a random lifecycle; returns the events appended."""
    article = f"urn:newswire:article:{uuid.UUID(int=rng.getrandbits(128))}"
    embargo = datetime.now(UTC) + timedelta(hours=rng.randint(1, 48)) if rng.random() < 0.3 else None
    code, _ = await log.file(_content(ArticleFiled, article, 1, embargo), embargo_ms=embargo_ms(embargo))
    assert code == 1
    appended, version = 1, 1
    if rng.random() < 0.5:
        await _publish(projection, article, version, log.settings.partitions)
        appended += 1
    for _step in range(rng.randint(0, 6)):
        roll = rng.random()
        if roll < 0.4:
            event = _content(ArticleUpdated, article, version + 1, embargo)
            code, _ = await log.command(event, seen_version=version, embargo_ms=embargo_ms(embargo))
        elif roll < 0.65:
            event = _content(ArticleCorrected, article, version + 1, embargo, correction_note="fixed a name")
            code, _ = await log.command(event, seen_version=version, embargo_ms=embargo_ms(embargo))
        elif roll < 0.9:
            embargo = None if rng.random() < 0.5 else datetime.now(UTC) + timedelta(minutes=rng.randint(5, 600))
            event = EmbargoChanged(**_common(article, version + 1), embargoed_until=embargo)  # type: ignore[arg-type]
            code, _ = await log.command(event, seen_version=version, embargo_ms=embargo_ms(embargo))
        else:
            event = ArticleKilled(**_common(article, version + 1), reason="legal", category="legal")  # type: ignore[arg-type]
            code, _ = await log.command(event, seen_version=version, status="canceled")
        assert code == 1
        if isinstance(event, ArticleKilled | EmbargoChanged):  # what publish's lifecycle worker does with it
            await _run(LifecycleHandler(projection), event, _, log.settings.partitions)
        version += 1
        appended += 1
        if rng.random() < 0.4 and not isinstance(event, ArticleKilled | EmbargoChanged):  # only content is enriched
            await _publish(projection, article, version, log.settings.partitions)
            appended += 1
        if isinstance(event, ArticleKilled):
            break
    if n % 7 == 0:  # a stale command is refused and appends nothing
        stale = _content(ArticleUpdated, article, 2, None)
        assert (await log.command(stale, seen_version=0))[0] in (-409, -412)
    return appended


async def _registry_life(redis: Redis, count: int) -> int:
    registry = PartnerRegistry(redis)
    now = datetime.now(UTC)
    appended = 0
    for i in range(count):
        name = f"partner-{i}"
        await registry.register(name, modes=["sse", "feed"], filters=Filters(), webhook_url=None, actor="test", now=now)
        appended += 2  # partner.registered + credential.issued
        if i % 2 == 0:
            await registry.change(name, lambda p: p, actor="test", reason="tweak", now=now)
            appended += 1
        if i % 5 == 0:
            await registry.remove(name, actor="test", now=now)
            appended += 2
    for i in range(10):
        await issue(redis, Role.EDITOR, f"editor-{i}")
        if i % 3 == 0:
            await issue(redis, Role.EDITOR, f"editor-{i}", replace=True)
        if i % 4 == 0:
            await revoke(redis, Role.EDITOR, f"editor-{i}")
    return appended


@pytest.fixture
async def wire(redis: Redis, redis_url: str) -> tuple[Settings, int]:
    settings = Settings(redis_url=redis_url, partitions=PARTITIONS)
    log = EventLog(redis, settings)
    await log.ensure_groups(Stream.ENRICHED, Group.PUBLISH)
    await log.ensure_groups(Stream.FILED, Group.LIFECYCLE)
    projection = ArticleProjection(redis)
    rng = random.Random(5)
    appended = 0
    for start in range(0, ARTICLES, 50):
        lives = [_article_life(log, projection, random.Random(rng.random()), n) for n in range(start, start + 50)]
        appended += sum(await asyncio.gather(*lives))
    appended += await _registry_life(redis, 30)
    return settings, appended


def _quiet(done: int, total: int) -> None:
    assert done <= total


async def test_replay_of_a_mixed_log_equals_the_live_projections(redis: Redis, wire: tuple[Settings, int]) -> None:
    settings, appended = wire
    assert appended >= 2000
    seen: list[tuple[int, int]] = []
    report = await replay(redis, settings, progress=lambda d, t: seen.append((d, t)), switch=False)
    assert report.total >= appended and report.events == report.total
    assert seen[-1][0] == report.total
    assert report.difference_count == 0, [str(d) for d in report.differences]
    assert report.keys >= 2 * ARTICLES  # article state and history of every article, and the registry
    # the rebuild sits in fresh keys of the same slots; the live keys are untouched
    assert await redis.exists("nw:{registry}:rebuild:partners")
    assert not report.switched


async def test_a_corrupted_projection_is_reported_and_repaired_by_the_switch(
        redis: Redis, wire: tuple[Settings, int]) -> None:
    settings, _ = wire
    rows = await redis.xrange(stream_key(Stream.FILED, 0), count=1)
    article = rows[0][1][b"article"].decode()
    state, history = article_key(article, 0), history_key(article, 0)
    good_state = await redis.hgetall(state)
    good_history = await redis.lrange(history, 0, -1)
    partners = registry_key("partners")
    good_partner = await redis.hget(partners, "partner-1")
    await redis.hset(state, mapping={"version": 99, "status": "usable"})
    await redis.lpop(history)
    await redis.hdel(partners, "partner-1")
    await redis.hset(registry_key("credentials"), "forged", b"{}")
    await redis.hset("nw:{p1}:article:urn:newswire:article:ghost", "version", 1)

    report = await replay(redis, settings, progress=_quiet, switch=False)
    found = {(d.key, d.kind) for d in report.differences}
    assert report.difference_count == 5, found
    assert {(state, "differs"), (history, "differs"), (f"{partners} partner-1", "missing"),
            ("nw:{registry}:credentials forged", "extra"),
            ("nw:{p1}:article:urn:newswire:article:ghost", "extra")} == found
    assert (await redis.hget(state, "version")) == b"99"  # compare only: nothing switched

    fixed = await replay(redis, settings, progress=_quiet, switch=True)
    assert fixed.difference_count == 5 and not fixed.refused
    assert sorted(fixed.switched) == ["{p0}", "{p1}", "{p2}", "{registry}"]
    assert await redis.hgetall(state) == good_state
    assert await redis.lrange(history, 0, -1) == good_history
    assert await redis.hget(partners, "partner-1") == good_partner
    assert not await redis.hexists(registry_key("credentials"), "forged")
    assert not await redis.exists("nw:{p1}:article:urn:newswire:article:ghost")
    assert not [k async for k in redis.scan_iter(match="nw:*:rebuild:*")]  # renamed over the live keys
    assert await redis.hget("nw:{p0}:replay:position", stream_key(Stream.FILED, 0))

    again = await replay(redis, settings, progress=_quiet, switch=False)
    assert again.difference_count == 0 and again.events == again.total


async def test_a_crash_mid_rebuild_resumes_without_applying_twice(redis: Redis, wire: tuple[Settings, int]) -> None:
    settings, _ = wire

    class Crash(Exception):
        pass

    def crash_after_some(done: int, total: int) -> None:
        if done >= 700:
            raise Crash

    with pytest.raises(Crash):
        await replay(redis, settings, progress=crash_after_some, switch=False, batch=300)
    resumed: ReplayReport = await replay(redis, settings, progress=_quiet, switch=False, batch=300)
    assert 0 < resumed.events < resumed.total  # the first batches were not read again
    assert resumed.difference_count == 0, [str(d) for d in resumed.differences]


async def test_the_log_moving_during_a_replay_is_caught_up(redis: Redis, wire: tuple[Settings, int]) -> None:
    settings, _ = wire
    log = EventLog(redis, settings)
    article = "urn:newswire:article:late-arrival"
    moved: list[bool] = []

    def write_once(done: int, total: int) -> None:
        if not moved:
            moved.append(True)
            asyncio.get_running_loop().create_task(log.file(_content(ArticleFiled, article, 1, None)))

    report = await replay(redis, settings, progress=write_once, switch=True, batch=500)
    assert report.difference_count == 0 and not report.refused, [str(d) for d in report.differences]
    partition = partition_of(article, PARTITIONS)
    assert await redis.hget(article_key(article, partition), "version") == b"1"
    assert len(await redis.lrange(history_key(article, partition), 0, -1)) == 1


def test_the_command_reports_and_repairs(redis_url: str, wire: tuple[Settings, int]) -> None:
    env = {**os.environ, "REDIS_URL": redis_url, "NEWSWIRE_PARTITIONS": str(PARTITIONS)}

    def newswire(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "services.wire.cli", "replay", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    clean = newswire()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "events/s" in clean.stderr and "the live projections match the log" in clean.stdout
    sync = sync_redis.Redis.from_url(redis_url)
    try:
        sync.hset(registry_key("partners"), "partner-1", b"{}")
        broken = newswire("--switch")
        assert broken.returncode == 1
        assert "nw:{registry}:partners partner-1" in broken.stdout and "repaired by the switch" in broken.stdout
        assert newswire().returncode == 0
        assert sync.hget(registry_key("partners"), "partner-1") != b"{}"
    finally:
        sync.close()


async def _enrich_and_publish(redis: Redis, handler: PublishHandler, content: Event, entry_id: str) -> None:
    """What enrich then publish do with a content event: an ArticleEnriched on the log, then _PUBLISH."""
    partition = partition_of(content.article_id, PARTITIONS)
    enriched = ArticleEnriched(**_common(content.article_id, content.version), source_event_id=content.event_id,  # type: ignore[arg-type]
                               source_entry_id=entry_id)
    out = await redis.xadd(stream_key(Stream.ENRICHED, partition), encode_event(enriched))  # type: ignore[arg-type]
    await _run(handler, enriched, out.decode(), PARTITIONS)


async def test_publish_projection_is_rebuilt_from_the_real_scripts_and_repaired(redis: Redis, redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, partitions=PARTITIONS)
    log = EventLog(redis, settings)
    for stream, group in ((Stream.ENRICHED, Group.PUBLISH), (Stream.FILED, Group.LIFECYCLE)):
        await log.ensure_groups(stream, group)
    projection = ArticleProjection(redis)
    publisher, lifecycle = PublishHandler(log, projection), LifecycleHandler(projection)
    now = datetime.now(UTC)
    soon, later = now + timedelta(seconds=1), now + timedelta(hours=5)
    articles: list[str] = []

    async def step(event: Event, *, seen: int | None = None, status: str = "", embargo: datetime | None = None,
                   enrich: bool = True) -> None:
        if seen is None:
            code, entry_id = await log.file(event, embargo_ms=embargo_ms(embargo))
        else:
            keep = isinstance(event, ArticleKilled)  # a kill keeps the embargo
            code, entry_id = await log.command(event, seen_version=seen, status=status,
                                               embargo_ms=None if keep else embargo_ms(embargo))
        assert code == 1
        if isinstance(event, ArticleKilled | EmbargoChanged):
            await _run(lifecycle, event, entry_id, PARTITIONS)
        elif enrich:
            await _enrich_and_publish(redis, publisher, event, entry_id)

    for n in range(60):
        article = f"urn:newswire:article:pub-{n}"
        articles.append(article)
        kind = n % 6
        embargo = {0: None, 1: later, 2: soon, 3: later, 4: None, 5: later}[kind]
        await step(_content(ArticleFiled, article, 1, embargo), embargo=embargo)
        await step(_content(ArticleUpdated, article, 2, embargo), seen=1, embargo=embargo)
        if kind == 0:  # delivered, corrected, killed after delivery
            await step(_content(ArticleCorrected, article, 3, None, correction_note="name"), seen=2)
            await step(ArticleKilled(**_common(article, 4), reason="legal", category="legal"), seen=3,  # type: ignore[arg-type]
                       status="canceled")
        elif kind == 1:  # held, re-embargoed while held, then an embargo change after it
            await step(EmbargoChanged(**_common(article, 3), embargoed_until=later + timedelta(hours=1)), seen=2,  # type: ignore[arg-type]
                       embargo=later + timedelta(hours=1))
            await step(_content(ArticleUpdated, article, 4, later), seen=3, embargo=later)
        elif kind == 2:  # held a second, re-embargoed to soon, released below
            await step(EmbargoChanged(**_common(article, 3), embargoed_until=soon), seen=2, embargo=soon)  # type: ignore[arg-type]
        elif kind == 3:  # held, killed before release: never delivered
            await step(ArticleKilled(**_common(article, 3), reason="dup", category="duplicate"), seen=2,  # type: ignore[arg-type]
                       status="canceled")
        elif kind == 4:  # a version enriched twice (the second _PUBLISH is stale), one never enriched
            content = _content(ArticleUpdated, article, 3, None)
            await step(content, seen=2, enrich=False)
            rows = await redis.xrevrange(stream_key(Stream.FILED, partition_of(article, PARTITIONS)), count=50)
            entry = next(i.decode() for i, f in rows if f[b"id"] == content.event_id.encode())
            await _enrich_and_publish(redis, publisher, content, entry)
            await _enrich_and_publish(redis, publisher, content, entry)
            await step(_content(ArticleUpdated, article, 4, None), seen=3, enrich=False)
        else:  # embargo lifted while held: the re-held item is delivered at once by the releaser
            await step(EmbargoChanged(**_common(article, 3), embargoed_until=None), seen=2)  # type: ignore[arg-type]
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    released = await EmbargoReleaser(projection, PARTITIONS).release_due()
    assert released >= 10

    report = await replay(redis, settings, progress=_quiet, switch=False)
    assert report.difference_count == 0, [str(d) for d in report.differences]
    assert report.keys >= 4 * len(articles)

    # corrupt the derivable part of some items; held versions and pending_* must survive the switch
    holding = [a for a in articles[1::6] if await redis.hexists(item_key(a, partition_of(a, PARTITIONS)), "pending_version")]
    held = holding[0]
    hp = partition_of(held, PARTITIONS)
    good_held = await redis.hgetall(item_key(held, hp))
    good_held_versions = await redis.hgetall(versions_key(held, hp))
    delivered = articles[0]
    dp = partition_of(delivered, PARTITIONS)
    good_item = await redis.hgetall(item_key(delivered, dp))
    good_versions = await redis.hgetall(versions_key(delivered, dp))
    await redis.hset(item_key(delivered, dp), mapping={"item": b"{}", "published_version": 99})
    await redis.hdel(item_key(delivered, dp), "killed")
    await redis.hset(versions_key(delivered, dp), "77", b"{}")
    assert good_versions[b"1"].startswith(b"@")  # delivered: a reference to its published entry
    older = await version_items(redis, dp, {b"1": good_versions[b"1"]})
    await redis.hset(versions_key(delivered, dp), "1", older[b"1"])  # the item itself, as older code kept it
    await redis.hset(item_key(held, hp), "embargo_ms", 1)

    found = await replay(redis, settings, progress=_quiet, switch=False)
    assert {d.key for d in found.differences} == {item_key(delivered, dp), versions_key(delivered, dp),
                                                  item_key(held, hp)}, [str(d) for d in found.differences]
    fixed = await replay(redis, settings, progress=_quiet, switch=True)
    assert fixed.difference_count == 3 and not fixed.refused
    assert await redis.hgetall(item_key(delivered, dp)) == good_item
    assert await redis.hgetall(versions_key(delivered, dp)) == good_versions
    assert await redis.hgetall(item_key(held, hp)) == good_held
    assert await redis.hgetall(versions_key(held, hp)) == good_held_versions
    assert not [k async for k in redis.scan_iter(match="nw:*:rebuild:*")]
    again = await replay(redis, settings, progress=_quiet, switch=False)
    assert again.difference_count == 0, [str(d) for d in again.differences]
