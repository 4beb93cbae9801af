"""The event contract: tags, the stored entry format, upcasting and stream names."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest

from schemas import codec
from schemas.events import ArticleEnriched, ArticleFiled, EntityTag, SubjectTag
from schemas.streams import Stream, partition_key, partition_of, registry_key, stream_key

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def filed(**changes: object) -> ArticleFiled:
    base = ArticleFiled(event_id="e-1", article_id="urn:newswire:article:1", version=1, occurred_at=NOW,
                        correlation_id="c-1", headline="Floods in the valley", body_html="<p>Water rose.</p>",
                        dateline="ZÜRICH — Agence", keywords=["weather"])
    return msgspec.structs.replace(base, **changes)


def test_entry_fields_are_plain_and_the_data_is_camel_case_json() -> None:
    fields = codec.encode_event(filed())
    assert fields["type"] == b"article.filed.v1"
    assert fields["id"] == b"e-1"
    assert fields["article"] == b"urn:newswire:article:1"
    assert fields["version"] == b"1"
    data = json.loads(fields["data"])
    assert data["type"] == "article.filed.v1"
    assert data["eventId"] == "e-1"
    assert data["bodyHtml"] == "<p>Water rose.</p>"
    assert data["dateline"] == "ZÜRICH — Agence"  # non-ASCII lives in the body, intact


def test_round_trip_with_bytes_or_str_fields() -> None:
    event = filed()
    fields = codec.encode_event(event)
    assert codec.decode_event(fields) == event
    as_bytes = {k.encode(): v for k, v in fields.items()}
    assert codec.decode_event(as_bytes) == event
    as_text = {k: v.decode() for k, v in fields.items()}
    assert codec.decode_event(as_text) == event


def test_enriched_round_trip() -> None:
    event = ArticleEnriched(
        event_id="e-2", article_id="urn:newswire:article:1", version=1, occurred_at=NOW, correlation_id="c-1",
        source_event_id="e-1", source_entry_id="1-0",
        tags=[EntityTag(id="geonames:630336", name="Belarus", type="place", confidence=0.95, creator="vocab/1")],
        subjects=[SubjectTag(code="medtop:16000000", name="conflict, war and peace",
                             uri="http://cv.iptc.org/newscodes/mediatopic/16000000", relevance=80, confidence=70, creator="r/1")],
    )
    assert codec.decode_event(codec.encode_event(event)) == event


def test_unknown_type_and_foreign_entries_decode_to_none() -> None:
    assert codec.decode_event({"type": b"article.teleported.v9", "data": b"{}"}) is None
    assert codec.decode_event({"headline": b"no type at all"}) is None


def test_known_type_with_a_broken_body_raises() -> None:
    with pytest.raises(msgspec.ValidationError):
        codec.decode_event({"type": b"article.filed.v1", "data": b'{"type":"article.filed.v1","eventId":"x"}'})


def test_upcaster_reads_an_older_version_as_the_current_one() -> None:
    old = {"type": "article.filed.v0", "eventId": "e", "articleId": "a", "version": 1, "occurredAt": NOW.isoformat(),
           "correlationId": "c", "title": "Old name", "body": "<p>x</p>"}

    def upcast(raw: dict[str, object]) -> dict[str, object]:
        raw = dict(raw)
        raw["type"] = "article.filed.v1"
        raw["headline"] = raw.pop("title")
        raw["bodyHtml"] = raw.pop("body")
        return raw

    codec.UPCASTERS["article.filed.v0"] = upcast
    try:
        event = codec.decode_event({"type": b"article.filed.v0", "data": json.dumps(old).encode()})
    finally:
        del codec.UPCASTERS["article.filed.v0"]
    assert isinstance(event, ArticleFiled)
    assert event.headline == "Old name"


def test_urgency_out_of_range_is_refused_by_the_contract() -> None:
    raw = codec.encode_event(filed())["data"].replace(b'"urgency":5', b'"urgency":10')
    with pytest.raises(msgspec.ValidationError, match="urgency"):
        codec.decode_event({"type": b"article.filed.v1", "data": raw})


def test_keys_carry_hash_tags_and_partitions() -> None:
    assert stream_key(Stream.FILED) == "nw:{p0}:filed"
    assert stream_key(Stream.PUBLISHED, 3) == "nw:{p3}:published"
    assert partition_key("done:enrich", 3) == "nw:{p3}:done:enrich"
    assert registry_key("credentials") == "nw:{registry}:credentials"


def test_partition_of_is_stable_and_spreads() -> None:
    ids = [f"urn:newswire:article:{i}" for i in range(1000)]
    assert [partition_of(i, 8) for i in ids] == [partition_of(i, 8) for i in ids]
    counts = [sum(1 for i in ids if partition_of(i, 8) == p) for p in range(8)]
    assert min(counts) > 80
    assert all(partition_of(i, 1) == 0 for i in ids)
    with pytest.raises(ValueError):
        partition_of("x", 0)


def test_a_frozen_v1_kill_reads_as_the_current_kill() -> None:
    from pathlib import Path

    from schemas.events import ArticleKilled, ArticleKilledV1

    frozen = (Path(__file__).parent.parent / "fixtures_frozen" / "article.killed.v1.json").read_bytes()
    assert msgspec.json.decode(frozen, type=ArticleKilledV1).reason == "Story withdrawn on legal advice"
    event = codec.decode_event({"type": b"article.killed.v1", "data": frozen})
    assert isinstance(event, ArticleKilled)
    assert event.category == "other"
    assert event.reason == "Story withdrawn on legal advice"
    assert event.killed_by == "night-desk"
    assert event.version == 3
    assert codec.encode_event(event)["type"] == b"article.killed.v2"
