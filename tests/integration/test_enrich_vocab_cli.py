"""``newswire vocab``: changes are checked, appended as events, and listed from the log."""

from __future__ import annotations

import os
import subprocess
import sys

from redis.asyncio import Redis

from schemas.vocabulary import VocabAliasAdded, VocabEntryAdded, VocabEntryRetired, decode_vocab_event
from services.enrich.vocab_store import VOCAB_STREAM
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
