"""Vocabulary events: the codec, the fold, and tagging that is reproducible from the events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.vocabulary import (
    AnyVocabEvent,
    VocabAliasAdded,
    VocabEntryAdded,
    VocabEntryRetired,
    decode_vocab_event,
    encode_vocab_event,
)
from services.enrich.core import Enricher, load_default_enricher
from services.enrich.related import RelatedIndex
from services.enrich.vocab_events import check, evolve, fold
from services.enrich.vocabulary import Entry, Vocabulary

AT = datetime(2026, 4, 2, 10, tzinfo=UTC)
PRIGOZHIN = "newswire:person:yevgeny-prigozhin"


def _added(entry_id: str, name: str, kind: str = "person", *aliases: str) -> VocabEntryAdded:
    return VocabEntryAdded(event_id=f"add-{entry_id}", entry_id=entry_id, occurred_at=AT, name=name,
                           entity_type=kind, aliases=list(aliases))  # type: ignore[arg-type]


def _alias(entry_id: str, alias: str) -> VocabAliasAdded:
    return VocabAliasAdded(event_id=f"alias-{alias}", entry_id=entry_id, occurred_at=AT, alias=alias)


def _retired(entry_id: str) -> VocabEntryRetired:
    return VocabEntryRetired(event_id=f"retire-{entry_id}", entry_id=entry_id, occurred_at=AT, reason="test")


def _ids(vocab: Vocabulary, text: str) -> list[str]:
    return [m.entry_id for m in vocab.find(text)]


@pytest.mark.parametrize(
    "event",
    [_added(PRIGOZHIN, "Yevgeny Prigozhin", "person", "Prigozhin"), _alias(PRIGOZHIN, "Prigojine"), _retired(PRIGOZHIN)],
)
def test_events_round_trip_through_the_stream_fields(event: AnyVocabEvent) -> None:
    fields = encode_vocab_event(event)
    assert fields["type"].decode().startswith("vocab.") and fields["type"].decode().endswith(".v1")
    assert decode_vocab_event(fields) == event
    assert decode_vocab_event({k.encode(): v for k, v in fields.items()}) == event


def test_unknown_event_types_are_skipped_not_fatal() -> None:
    assert decode_vocab_event({b"type": b"vocab.entry-renamed.v9", b"data": b"{}"}) is None
    assert decode_vocab_event({b"data": b"{}"}) is None


def test_add_alias_retire_change_matching_and_raise_the_revision() -> None:
    vocab = Vocabulary()
    assert evolve(vocab, _added(PRIGOZHIN, "Yevgeny Prigozhin")) is None
    assert _ids(vocab, "Yevgeny Prigozhin spoke.") == [PRIGOZHIN]
    assert _ids(vocab, "Prigozhin's men") == []
    assert evolve(vocab, _alias(PRIGOZHIN, "Prigozhin")) is None
    assert _ids(vocab, "Prigozhin's men") == [PRIGOZHIN]  # possessive
    assert vocab.find("Prigozhin's men")[0].creator == "newswire-vocab/1@2"
    assert evolve(vocab, _retired(PRIGOZHIN)) is None
    assert _ids(vocab, "Yevgeny Prigozhin and Prigozhin") == []
    assert vocab.revision == 3


def test_an_alias_for_an_unknown_or_retired_entry_is_a_reported_no_op() -> None:
    vocab = Vocabulary()
    assert check(vocab, _alias("newswire:person:nobody", "Nobody")) == "no entry 'newswire:person:nobody'"
    assert evolve(vocab, _alias("newswire:person:nobody", "Nobody")) is not None
    assert evolve(vocab, _retired("newswire:person:nobody")) is not None
    assert len(vocab) == 0 and vocab.revision == 2  # still counted: the revision is a stream position


def test_editors_can_retire_a_seed_place_and_bring_it_back() -> None:
    vocab = Vocabulary([Entry("geonames:1", "Reading", "place", uri="https://sws.geonames.org/1/", rank=300_000)])
    evolve(vocab, _retired("geonames:1"))
    assert _ids(vocab, "Reading is a town") == []
    evolve(vocab, _added("geonames:1", "Reading", "place"))
    assert _ids(vocab, "Reading is a town") == ["geonames:1"]


def test_a_longer_editor_entry_wins_and_a_name_beats_an_alias() -> None:
    vocab = Vocabulary([Entry("geonames:2", "Barcelona", "place", rank=1_600_000)])
    evolve(vocab, _added("newswire:organisation:fc-barcelona", "FC Barcelona", "organisation", "Barcelona"))
    assert _ids(vocab, "FC Barcelona won") == ["newswire:organisation:fc-barcelona"]
    assert _ids(vocab, "Barcelona") == ["geonames:2"]  # the seed's own name beats another entry's alias


def test_invalid_additions_are_refused_by_check() -> None:
    vocab = Vocabulary()
    assert check(vocab, _added("newswire:person:x", "  ")) is not None
    assert check(vocab, _added("newswire:person:x", "X Y", "person", "Z")) is not None  # a one-letter alias
    assert check(vocab, _added("newswire:person:x", "X Y")) is None


def test_replaying_the_same_events_gives_the_same_tags() -> None:
    events: list[AnyVocabEvent] = [
        _added(PRIGOZHIN, "Yevgeny Prigozhin"),
        _alias(PRIGOZHIN, "Prigozhin"),
        _added("newswire:organisation:wagner-group", "Wagner Group", "organisation", "Wagner"),
        _retired("geonames:624034"),  # Osipovichi
    ]
    seed = load_default_enricher()
    text = "Prigozhin's Wagner fighters moved to a camp near Asipovichy in Belarus."

    def tags() -> list[tuple[str, str, str]]:
        enricher = Enricher(fold(seed.vocabulary.copy(), list(events)), seed.topics, RelatedIndex(), seed.names)
        found, _ = enricher.entities("Camp", text)
        return [(t.id, t.type, t.creator) for t in found]

    first, second = tags(), tags()
    assert first == second
    ids = [t[0] for t in first]
    assert PRIGOZHIN in ids and "newswire:organisation:wagner-group" in ids and "geonames:630336" in ids
    assert "geonames:624034" not in ids
    assert ("geonames:630336", "place", "newswire-vocab/1@4") in first
    assert seed.vocabulary.revision == 0  # the shared seed is untouched
