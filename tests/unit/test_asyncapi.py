"""The AsyncAPI description of the streams: up to date, self-consistent, and true of real entries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator

from schemas import asyncapi, codec
from schemas.events import ArticleEnriched, ArticleFiled, ArticleKilled, EntityTag, SubjectTag
from schemas.partners import Filters, Partner, PartnerRegistered

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
FROZEN_KILL_V1 = Path(__file__).resolve().parents[1] / "fixtures_frozen" / "article.killed.v1.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(asyncapi.PATH.read_text(encoding="utf-8"))


def test_the_committed_document_is_what_the_code_builds() -> None:
    assert asyncapi.main(["--check"]) == 0, "run: python -m schemas.asyncapi"


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    def walk(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [r for v in node.values() for r in walk(v)]
        if isinstance(node, list):
            return [r for v in node for r in walk(v)]
        return []

    refs = walk(document)
    assert len(refs) > 50
    for ref in refs:
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, f"{ref} does not resolve"
            target = target[part]


def test_every_type_the_codec_reads_is_described(document: dict[str, Any]) -> None:
    names = {m["name"] for m in document["components"]["messages"].values()}
    assert codec._KNOWN_TYPES | set(codec.UPCASTERS) <= names
    assert document["asyncapi"] == "3.0.0"
    assert document["channels"]["filed"]["address"] == "nw:{partition}:filed"


def _validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    schema = {"components": document["components"], "$ref": f"#/components/schemas/{name}"}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _payload(event: msgspec.Struct) -> Any:
    return json.loads(msgspec.json.encode(event))


def test_real_events_validate_against_their_payload_schemas(document: dict[str, Any]) -> None:
    filed = ArticleFiled(event_id="e-1", article_id="urn:newswire:article:1", version=1, occurred_at=NOW,
                         correlation_id="c-1", headline="Floods in the valley", body_html="<p>Water rose.</p>")
    enriched = ArticleEnriched(
        event_id="e-2", article_id=filed.article_id, version=1, occurred_at=NOW, correlation_id="c-1",
        source_event_id="e-1", source_entry_id="1-0",
        tags=[EntityTag(id="geonames:630336", name="Belarus", type="place", confidence=0.95, creator="vocab/1")],
        subjects=[SubjectTag(code="medtop:16000000", name="conflict, war and peace",
                             uri="http://cv.iptc.org/newscodes/mediatopic/16000000", relevance=80, confidence=70,
                             creator="r/1")],
    )
    killed = ArticleKilled(event_id="e-3", article_id=filed.article_id, version=2, occurred_at=NOW, correlation_id="c-1",
                           reason="legal advice", category="legal")
    partner = Partner(name="outlet", filters=Filters(places=["Belarus"]), created_at=NOW, updated_at=NOW)
    registered = PartnerRegistered(event_id="e-4", occurred_at=NOW, actor="cli", partner=partner)
    for event in (filed, enriched, killed, registered):
        _validator(document, type(event).__name__).validate(_payload(event))
    frozen = json.loads(FROZEN_KILL_V1.read_text(encoding="utf-8"))
    _validator(document, "ArticleKilledV1").validate(frozen)


def test_a_wrong_payload_is_refused_by_the_schema(document: dict[str, Any]) -> None:
    bad = {"type": "article.filed.v1", "eventId": "e", "articleId": "a", "version": 1,
           "occurredAt": NOW.isoformat(), "correlationId": "c", "headline": "x", "bodyHtml": "y", "urgency": 12}
    assert not _validator(document, "ArticleFiled").is_valid(bad)
