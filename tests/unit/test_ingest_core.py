"""Ingest decisions: decoding, rules, sanitising, ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from services.ingest import core

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
IDS = core.FilingIds(article_id="urn:newswire:article:x", event_id="e", correlation_id="c")


def test_strict_decode_reports_the_field_path() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.urgency"):
        core.decode_filing(b'{"headline": "h", "body": "<p>b</p>", "urgency": "3"}')
    with pytest.raises(msgspec.ValidationError, match="unknown field `colour`"):
        core.decode_filing(b'{"headline": "h", "body": "<p>b</p>", "colour": 1}')
    with pytest.raises(msgspec.ValidationError, match="keywords"):
        core.decode_filing(b'{"headline": "h", "body": "b", "keywords": [""]}')


@pytest.mark.parametrize(
    ("html", "absent", "present"),
    [
        ('<p onclick="x()">Hi</p>', "onclick", "<p>Hi</p>"),
        ("<script>alert(1)</script><p>ok</p>", "alert", "<p>ok</p>"),
        ('<a href="javascript:alert(1)">x</a>', "javascript", ">x</a>"),
        ('<a href="https://example.org/a">x</a>', "javascript", 'href="https://example.org/a"'),
        ("<iframe src=//evil></iframe><p>t</p>", "iframe", "<p>t</p>"),
        ('<p style="color:red">t</p>', "style", "<p>t</p>"),
    ],
)
def test_sanitise(html: str, absent: str, present: str) -> None:
    clean = core.sanitise_html(html)
    assert absent not in clean
    assert present in clean


def test_blank_headline_and_oversize_body() -> None:
    filing = core.FileArticle(headline="  ", body="<p>x</p>")
    with pytest.raises(core.InvalidFiling) as blank:
        core.check_filing(filing, max_body_bytes=100, now=NOW)
    assert blank.value.status == 422
    assert blank.value.errors[0].field == "$.headline"
    big = core.FileArticle(headline="h", body="é" * 60)  # 120 bytes of UTF-8
    with pytest.raises(core.InvalidFiling) as too_big:
        core.check_filing(big, max_body_bytes=100, now=NOW)
    assert too_big.value.status == 413


def test_build_filed_normalises_and_keeps_the_editor() -> None:
    filing = core.FileArticle(headline=" Storm\n hits   coast ", body="<p>Rain</p><script>x</script>", keywords=[" a ", "b"])
    event = core.build_filed(filing, IDS, editor="desk", now=NOW)
    assert event.headline == "Storm hits coast"
    assert event.body_html == "<p>Rain</p>"
    assert event.keywords == ["a", "b"]
    assert event.filed_by == "desk"
    assert event.version == 1
    assert event.occurred_at == NOW


def test_article_ids_are_urns_and_derived_from_idempotency_keys() -> None:
    random_id = uuid.uuid4()
    assert core.new_article_id("desk", None, random_id) == f"urn:newswire:article:{random_id}"
    one = core.new_article_id("desk", "k1", uuid.uuid4())
    assert one == core.new_article_id("desk", "k1", uuid.uuid4())
    assert one != core.new_article_id("other-desk", "k1", uuid.uuid4())
    assert core.location(one) == "/v1/articles/" + one.rsplit(":", 1)[1]


def test_idempotency_key_rules() -> None:
    assert core.valid_idempotency_key("abc-123_x.y")
    assert not core.valid_idempotency_key("")
    assert not core.valid_idempotency_key("has space")
    assert not core.valid_idempotency_key("k" * 256)
