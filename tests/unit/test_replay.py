"""The replay folds: pure functions from log entries to projections (no Redis)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import msgspec

from schemas.codec import encode_event, encode_json
from schemas.events import (
    ArticleCorrected,
    ArticleEnriched,
    ArticleFiled,
    ArticleKilled,
    ArticlePublished,
    ArticleUpdated,
    EmbargoChanged,
    RelatedLink,
)
from schemas.partners import Filters, Partner, PartnerChanged, PartnerRegistered, PartnerRemoved
from services.publish.core import build_item
from services.wire.credentials import Credential, CredentialIssued, CredentialRevoked, Role
from services.wire.replay import (
    apply_registry,
    embargo_ms,
    fold_articles,
    fold_partition,
    fold_publish,
    fold_registry,
    history_of,
    merge_by_id,
    rebuild_key,
    same_history,
)

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ART = "urn:newswire:article:one"


def common(version: int, article: str = ART) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "article_id": article, "version": version, "occurred_at": NOW,
            "correlation_id": "c"}


def content(cls: type, version: int, embargo: datetime | None = None, **extra: object) -> object:
    return cls(**common(version), headline="h", body_html="<p>b</p>", embargoed_until=embargo, **extra)


def test_article_state_follows_the_lifecycle() -> None:
    later = NOW + timedelta(hours=2)
    events = [
        content(ArticleFiled, 1, later),
        content(ArticleUpdated, 2, later),
        EmbargoChanged(**common(3), embargoed_until=None),  # type: ignore[arg-type]
        content(ArticleCorrected, 4, correction_note="name spelt wrong"),
    ]
    states = fold_articles(events)  # type: ignore[arg-type]
    assert states == {ART: {"version": "4", "status": "usable", "embargo": "0"}}
    fold_articles([ArticleKilled(**common(5), reason="legal", category="legal")], states)  # type: ignore[arg-type]
    assert states[ART] == {"version": "5", "status": "canceled", "embargo": "0"}


def test_an_embargo_is_set_extended_and_kept_by_a_kill() -> None:
    later = NOW + timedelta(days=1)
    states = fold_articles([
        content(ArticleFiled, 1),  # type: ignore[list-item]
        EmbargoChanged(**common(2), embargoed_until=later),  # type: ignore[arg-type]
        ArticleKilled(**common(3), reason="dup", category="duplicate"),  # type: ignore[arg-type]
    ])
    assert states[ART] == {"version": "3", "status": "canceled", "embargo": str(embargo_ms(later))}
    assert embargo_ms(later) == int(later.timestamp() * 1000)


def test_a_v1_kill_on_the_log_is_upcast_and_cancels() -> None:
    filed = encode_event(content(ArticleFiled, 1))  # type: ignore[arg-type]
    raw_kill = {"type": "article.killed.v1", "eventId": "k", "articleId": ART, "version": 2,
                "occurredAt": "2026-03-01T09:00:00Z", "correlationId": "c", "reason": "wrong"}
    kill = {b"type": b"article.killed.v1", b"id": b"k", b"article": ART.encode(), b"version": b"2",
            b"data": msgspec.json.encode(raw_kill)}
    key = "nw:{p0}:filed"
    changes = fold_partition([(key, "1-0", {k.encode(): v for k, v in filed.items()}), (key, "2-0", kill)], key)
    assert changes.articles[ART] == {"version": "2", "status": "canceled", "embargo": "0"}
    assert changes.events == 2 and changes.positions == {key: "2-0"}


def test_history_merges_filed_and_published_entries_by_id() -> None:
    other = "urn:newswire:article:two"
    filed = [("5-0", {b"article": ART.encode()}), ("7-0", {b"article": other.encode()}),
             ("12-0", {b"article": ART.encode()})]
    published = [("6-0", {b"article": ART.encode()}), ("13-1", {b"article": ART.encode()}),
                 ("13-2", {b"article": other.encode()})]
    history = history_of(filed, published)
    assert history[ART] == ["nw:{p0}:filed 5-0", "nw:{p0}:published 6-0", "nw:{p0}:filed 12-0",
                            "nw:{p0}:published 13-1"]
    assert history[other] == ["nw:{p0}:filed 7-0", "nw:{p0}:published 13-2"]


def test_merge_orders_by_number_not_text() -> None:
    merged = merge_by_id([("a", "9-0", {}), ("a", "10-0", {})], [("b", "9-5", {}), ("b", "100-0", {})])
    assert [(s, i) for s, i, _ in merged] == [("a", "9-0"), ("b", "9-5"), ("a", "10-0"), ("b", "100-0")]


def test_unknown_and_articleless_entries_advance_the_position_only() -> None:
    key = "nw:{p0}:filed"
    changes = fold_partition([(key, "1-0", {b"type": b"article.renamed.v9", b"data": b"{}"}),
                              (key, "2-0", {b"type": b"dead.lettered.v1"})], key)
    assert changes.articles == {} and changes.events == 2 and changes.positions == {key: "2-0"}
    assert changes.history == {}  # the first has no article field either


def test_history_differing_only_within_one_millisecond_is_equal() -> None:
    live = ["nw:{p0}:filed 5-1", "nw:{p0}:published 5-0", "nw:{p0}:filed 6-0"]
    rebuilt = ["nw:{p0}:published 5-0", "nw:{p0}:filed 5-1", "nw:{p0}:filed 6-0"]
    assert same_history(live, rebuilt)
    assert not same_history(live, rebuilt[:2])
    assert not same_history(["x 5-0", "y 6-0"], ["y 6-0", "x 5-0"])


def _cred(name: str, role: Role, key_hash: str) -> Credential:
    return Credential(name=name, role=role, created_at=NOW, key_hash=key_hash)


def _entry(kind: str, event: object) -> dict[bytes, bytes]:
    return {b"type": kind.encode(), b"data": msgspec.json.encode(event)}


def test_credentials_are_issued_replaced_and_revoked() -> None:
    first, second = _cred("desk", Role.EDITOR, "h1"), _cred("desk", Role.EDITOR, "h2")
    other = _cred("acme", Role.PARTNER, "h3")
    state = fold_registry([
        _entry("credential.issued.v1", CredentialIssued(credential=first)),
        _entry("credential.issued.v1", CredentialIssued(credential=other)),
        _entry("credential.issued.v1", CredentialIssued(credential=second)),  # replace=True
    ])
    assert set(state.credentials) == {"h2", "h3"}
    assert msgspec.json.decode(state.credentials["h2"], type=Credential) == second
    assert state.credentials["h2"] == msgspec.json.encode(second)  # the bytes issue() writes
    assert state.names == {"editor:desk": b"h2", "partner:acme": b"h3"}
    touched = apply_registry(state, _entry("credential.revoked.v1", CredentialRevoked(
        name="acme", role=Role.PARTNER, key_hash="h3", revoked_at=NOW)))
    assert touched == {("credentials", "h3"), ("names", "partner:acme")}
    assert set(state.credentials) == {"h2"} and state.names == {"editor:desk": b"h2"}


def test_partners_are_registered_changed_and_removed() -> None:
    acme = Partner(name="acme", created_at=NOW, updated_at=NOW)
    paused = msgspec.structs.replace(acme, status="paused", filters=Filters(min_urgency=3))
    base = {"event_id": "e", "occurred_at": NOW, "actor": "cli"}
    state = fold_registry([
        _entry("partner.registered.v1", PartnerRegistered(**base, partner=acme)),  # type: ignore[arg-type]
        _entry("partner.registered.v1", PartnerRegistered(**base, partner=msgspec.structs.replace(acme, name="b"))),  # type: ignore[arg-type]
        _entry("partner.changed.v1", PartnerChanged(**base, partner=paused, reason="paused")),  # type: ignore[arg-type]
        _entry("partner.removed.v1", PartnerRemoved(**base, name="b")),  # type: ignore[arg-type]
        {b"type": b"partner.renamed.v7", b"data": b'{"type":"partner.renamed.v7"}'},
    ])
    assert list(state.partners) == ["acme"]
    assert msgspec.json.decode(state.partners["acme"], type=Partner) == paused


def test_rebuilt_keys_stay_in_the_live_keys_slot() -> None:
    assert rebuild_key("nw:{p3}:article:urn:newswire:article:x") == "nw:{p3}:rebuild:article:urn:newswire:article:x"
    assert rebuild_key("nw:{registry}:names") == "nw:{registry}:rebuild:names"


def test_an_enriched_entry_numbered_before_its_filing_in_the_same_millisecond_is_still_built() -> None:
    filed = content(ArticleFiled, 1)
    assert isinstance(filed, ArticleFiled)
    enriched = ArticleEnriched(**common(1), source_event_id=filed.event_id, source_entry_id="1000-3")  # type: ignore[arg-type]
    fkey, ekey, pkey = "nw:{p0}:filed", "nw:{p0}:enriched", "nw:{p0}:published"
    # each stream numbers its own entries: the enriched entry is 1000-0, the filing it derives from 1000-3
    def entry(event: object) -> dict[bytes, bytes]:
        return {k.encode(): v for k, v in encode_event(event).items()}  # type: ignore[arg-type]

    merged = merge_by_id([(fkey, "1000-3", entry(filed))], [(ekey, "1000-0", entry(enriched))])
    assert [row[0] for row in merged] == [ekey, fkey]
    changes = fold_publish(merged, filed=fkey, published=pkey, enriched=ekey)
    assert changes.versions == {} and list(changes.versions_nx[ART]) == ["1"]  # not delivered: its item is kept
    item = msgspec.json.decode(changes.versions_nx[ART]["1"])
    assert item["uri"] == ART and item["headlines"][0]["value"] == "h"


def test_a_delivered_version_is_rebuilt_as_a_reference_to_its_published_entry_whatever_the_order() -> None:
    """What ``_PUBLISH`` keeps: ``@<entry id>`` for a version delivered on the published stream (even when
    its enriched entry sorts after the published one, in the same millisecond), the item its first
    enrichment built for a version never delivered."""
    fkey, ekey, pkey = "nw:{p0}:filed", "nw:{p0}:enriched", "nw:{p0}:published"

    def entry(event: object) -> dict[bytes, bytes]:
        return {k.encode(): v for k, v in encode_event(event).items()}  # type: ignore[arg-type]

    v1, v2 = content(ArticleFiled, 1), content(ArticleUpdated, 2)
    e1 = ArticleEnriched(**common(1), source_event_id=v1.event_id, source_entry_id="1000-0")  # type: ignore[arg-type,attr-defined]
    e2 = ArticleEnriched(**common(2), source_event_id=v2.event_id, source_entry_id="1001-0")  # type: ignore[arg-type,attr-defined]
    e2_again = ArticleEnriched(**common(2), source_event_id=v2.event_id, source_entry_id="1001-0",  # type: ignore[arg-type,attr-defined]
                               related=[RelatedLink(article_id="urn:newswire:article:two", headline="h2", score=1.0)])
    published = ArticlePublished(**common(1), source_event_id=e1.event_id,  # type: ignore[arg-type]
                                 item=build_item(v1, e1))  # type: ignore[arg-type]
    merged = merge_by_id([(fkey, "1000-0", entry(v1)), (fkey, "1001-0", entry(v2))],
                         [(ekey, "1000-7", entry(e1)), (ekey, "1002-0", entry(e2)), (ekey, "1003-0", entry(e2_again))],
                         [(pkey, "1000-2", entry(published))])
    assert [row[1] for row in merged][:3] == ["1000-0", "1000-2", "1000-7"]  # the delivery before its enrichment
    changes = fold_publish(merged, filed=fkey, published=pkey, enriched=ekey)
    assert changes.versions == {ART: {"1": b"@1000-2"}}
    first_item = encode_json(build_item(v2, e2))  # type: ignore[arg-type]
    assert first_item != encode_json(build_item(v2, e2_again))  # type: ignore[arg-type]
    assert changes.versions_nx == {ART: {"2": first_item}}  # the first enrichment's item
    assert changes.items[ART] == {"published_version": b"1"}
