"""``newswire vocab``: changes are checked, appended as events, and listed from the log."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

from redis.asyncio import Redis

from schemas.codec import encode_event
from schemas.events import ArticleEnriched, ArticleFiled, ArticlePublished, EntityTag
from schemas.streams import Stream, stream_key
from schemas.vocabulary import VocabAliasAdded, VocabEntryAdded, VocabEntryRetired, decode_vocab_event
from services.enrich.vocab_store import VOCAB_STREAM
from services.publish.core import build_item
from services.wire.eventlog import as_entries


def newswire(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": redis_url}
    return subprocess.run([sys.executable, "-m", "services.wire.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


async def test_add_alias_retire_and_list(redis: Redis, redis_url: str) -> None:
    added = newswire(redis_url, "vocab", "add", "Yevgeny Prigozhin", "--type", "person", "--alias", "Prigozhin",
                     "--editor", "night-desk")
    assert added.returncode == 0, added.stderr
    assert "newswire:person:yevgeny-prigozhin" in added.stdout
    alias = newswire(redis_url, "vocab", "alias", "newswire:person:yevgeny-prigozhin", "Prigojine")
    assert alias.returncode == 0, alias.stderr
    unknown = newswire(redis_url, "vocab", "alias", "newswire:person:nobody", "Nobody")
    assert unknown.returncode == 1 and "no entry" in unknown.stderr
    retired = newswire(redis_url, "vocab", "retire", "geonames:2657832", "--reason", "test")  # Aberdeen
    assert retired.returncode == 0, retired.stderr

    events = [decode_vocab_event(fields) for _, fields in as_entries(await redis.xrange(VOCAB_STREAM))]
    assert [type(e) for e in events] == [VocabEntryAdded, VocabAliasAdded, VocabEntryRetired]
    first = events[0]
    assert isinstance(first, VocabEntryAdded)
    assert (first.name, first.entity_type, first.aliases, first.editor) == (
        "Yevgeny Prigozhin", "person", ["Prigozhin"], "night-desk")

    listed = newswire(redis_url, "vocab", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any("newswire:person:yevgeny-prigozhin" in ln and "Prigozhin, Prigojine" in ln for ln in lines)
    assert any("geonames:2657832" in ln and "(retired)" in ln for ln in lines)
    assert "revision 3" in listed.stderr
    searched = newswire(redis_url, "vocab", "list", "--query", "minsk", "--limit", "3")
    assert "geonames:625144" in searched.stdout  # the seed is searchable too


async def _publish(redis: Redis, n: int, tags: list[EntityTag]) -> None:
    at = datetime.now(UTC)
    filed = ArticleFiled(event_id=str(uuid.uuid4()), article_id=f"urn:newswire:article:{n}", version=1, occurred_at=at,
                         correlation_id="t", headline=f"Story {n}", body_html="<p>Text.</p>")
    enriched = ArticleEnriched(event_id=str(uuid.uuid4()), article_id=filed.article_id, version=1, occurred_at=at,
                               correlation_id="t", source_event_id=filed.event_id, source_entry_id="0-1", tags=tags)
    published = ArticlePublished(event_id=str(uuid.uuid4()), article_id=filed.article_id, version=1, occurred_at=at,
                                 correlation_id="t", source_event_id=enriched.event_id, item=build_item(filed, enriched))
    await redis.xadd(stream_key(Stream.PUBLISHED), encode_event(published))  # type: ignore[arg-type]


async def test_suggest_lists_names_that_recur_across_published_stories(redis: Redis, redis_url: str) -> None:
    marchuk = EntityTag(id="newswire:person:olena-marchuk", name="Olena Marchuk", type="person", confidence=0.6,
                        creator="newswire-names/1")
    minsk = EntityTag(id="geonames:625144", name="Minsk", type="place", confidence=0.95, creator="newswire-vocab/1@0")
    for n in range(3):
        await _publish(redis, n, [marchuk, minsk])
    shown = newswire(redis_url, "vocab", "suggest", "--min-stories", "3")
    assert shown.returncode == 0, shown.stderr
    assert "Olena Marchuk" in shown.stdout and "newswire vocab add 'Olena Marchuk' --type person" in shown.stdout
    assert "Minsk" not in shown.stdout  # already an entry
    assert "Olena Marchuk" not in newswire(redis_url, "vocab", "suggest", "--min-stories", "4").stdout
