"""The ninjs item: built from events, valid against the official ninjs 3.1 schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from jsonschema import Draft202012Validator

from schemas.codec import encode_json
from schemas.events import ArticleEnriched, ArticleFiled, EntityTag, RelatedLink, SubjectTag
from services.publish import core
from services.publish.live import Cursor

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
FILED = ArticleFiled(event_id="e-1", article_id="urn:newswire:article:1", version=1, occurred_at=NOW, correlation_id="c",
                     headline="Troops leave", body_html="<p>Russia withdrew <b>most</b> troops.</p>", byline="Staff",
                     dateline="KYIV", urgency=3, keywords=["Belarus"])
ENRICHED = ArticleEnriched(
    event_id="e-2", article_id=FILED.article_id, version=1, occurred_at=NOW, correlation_id="c",
    source_event_id="e-1", source_entry_id="1-0",
    tags=[
        EntityTag(id="geonames:2017370", name="Russia", type="place", confidence=0.95, creator="v/1",
                  uri="https://sws.geonames.org/2017370/"),
        EntityTag(id="newswire:organisation:wagner-group", name="Wagner Group", type="organisation", confidence=0.6,
                  creator="rules/1", uri="urn:newswire:entity:organisation:wagner-group"),
        EntityTag(id="newswire:person:yevgeny-prigozhin", name="Yevgeny Prigozhin", type="person", confidence=0.6,
                  creator="rules/1"),
    ],
    subjects=[SubjectTag(code="medtop:16000000", name="conflict, war and peace",
                         uri="http://cv.iptc.org/newscodes/mediatopic/16000000", relevance=90, confidence=80, creator="r/1")],
    related=[RelatedLink(article_id="urn:newswire:article:0", headline="Earlier story", score=0.8)],
)


def test_item_is_valid_ninjs_3_1(ninjs_validator: Draft202012Validator) -> None:
    item = core.build_item(FILED, ENRICHED)
    document = json.loads(encode_json(item))
    errors = [e.message for e in ninjs_validator.iter_errors(document)]
    assert errors == []
    assert document["uri"] == FILED.article_id
    assert document["version"] == "1"
    assert document["versionCreated"] == "2026-05-04T09:30:00.000Z"
    assert document["pubStatus"] == "usable"
    assert document["headlines"] == [{"value": "Troops leave"}]
    assert document["bodies"][0]["contentType"] == "text/html"
    assert document["bodies"][0]["wordCount"] == 4
    assert [p["name"] for p in document["places"]] == ["Russia"]
    assert [o["name"] for o in document["organisations"]] == ["Wagner Group"]
    assert [p["name"] for p in document["people"]] == ["Yevgeny Prigozhin"]
    assert document["associations"] == [{"name": "Earlier story", "uri": "urn:newswire:article:0", "rel": "related",
                                         "type": "text"}]
    about = [s for s in document["subjects"] if s.get("rel") == "about"]
    assert about[0]["uri"] == "http://cv.iptc.org/newscodes/mediatopic/16000000"


def test_the_schema_check_is_real(ninjs_validator: Draft202012Validator) -> None:
    assert not ninjs_validator.is_valid({"uri": "urn:x", "extraField": 1})
    assert not ninjs_validator.is_valid({"uri": "urn:x", "versionCreated": "yesterday"})


def test_cursor_text_round_trip() -> None:
    assert str(Cursor.parse("1700000000000-0", 1)) == "1700000000000-0"
    assert str(Cursor.parse("1-0.2-5", 2)) == "1-0.2-5"
    for bad in ("", "abc", "1-0.2-5", "1-x", "-1-0", "1-0;DROP"):
        assert Cursor.parse(bad, 1) is None
    assert Cursor.parse("1-0", 2) is None
