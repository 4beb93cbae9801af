"""Partner filters over an item's facts, and what the live tail keeps of each item."""

from __future__ import annotations

import gc
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from schemas.codec import encode_event, encode_json
from schemas.events import ArticlePublished
from schemas.partners import Filters, Partner
from services.publish import core
from services.publish.filters import CompiledFilters, ItemFacts, entitled, follows_earlier
from services.publish.live import _Window, to_published
from tests.unit.test_publish_core import ENRICHED, FILED, NOW

ITEM = core.build_item(FILED, ENRICHED)
FACTS = ItemFacts.of(ITEM)


def partner(status: str = "active", **filters: object) -> tuple[Partner, CompiledFilters]:
    chosen = msgspec.convert(filters, Filters)
    return Partner(name="p", status=status, filters=chosen, created_at=NOW, updated_at=NOW), CompiledFilters.of(chosen)  # type: ignore[arg-type]


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, True),
    ({"subjects": ["medtop:16000000"]}, True),
    ({"subjects": ["CONFLICT, war and peace"]}, True),
    ({"subjects": ["http://cv.iptc.org/newscodes/mediatopic/16000000"]}, True),
    ({"subjects": ["medtop:04000000"]}, False),
    ({"subjects": ["belarus"]}, False),  # an editor's keyword is not a subject filters match
    ({"places": ["geonames:2017370"]}, True),
    ({"places": ["russia", "Belarus"]}, True),
    ({"places": ["Belarus"]}, False),
    ({"people": ["yevgeny prigozhin"]}, True),
    ({"organisations": ["urn:newswire:entity:organisation:wagner-group"]}, True),
    ({"organisations": ["Kremlin"]}, False),
    ({"languages": ["en"]}, True),
    ({"languages": ["de"]}, False),
    ({"minUrgency": 3}, True),
    ({"minUrgency": 2}, False),
    ({"places": ["Russia"], "people": ["Someone Else"]}, False),  # across lists all must match
])
def test_filters_match_the_facts_of_an_item(filters: dict[str, object], expected: bool) -> None:
    who, compiled = partner(**filters)
    assert entitled(who, compiled, FACTS, received_earlier=False) is expected


def test_a_later_version_or_a_kill_goes_to_whoever_had_an_earlier_one_whatever_the_filters() -> None:
    who, compiled = partner(places=["Belarus"])
    second = ItemFacts.of(msgspec.structs.replace(ITEM, version="2"))
    killed = ItemFacts.of(msgspec.structs.replace(ITEM, pub_status="canceled"))
    assert not follows_earlier(FACTS)
    assert follows_earlier(second) and follows_earlier(killed)
    assert entitled(who, compiled, second, received_earlier=True)
    assert entitled(who, compiled, killed, received_earlier=True)
    assert not entitled(who, compiled, second, received_earlier=False)
    assert not entitled(who, compiled, FACTS, received_earlier=True)  # a first version still needs the filters
    paused, compiled = partner(status="paused")
    assert not entitled(paused, compiled, second, received_earlier=True)


def test_the_facts_are_the_item_lower_cased_once() -> None:
    assert FACTS.uri == ITEM.uri and FACTS.version == "1" and FACTS.urgency == 3 and FACTS.language == "en"
    assert set(FACTS.places) == {"russia", "geonames:2017370", "https://sws.geonames.org/2017370/"}
    assert "medtop:16000000" in FACTS.subjects and "belarus" not in FACTS.subjects


def _entry(n: int) -> tuple[str, dict[bytes, bytes]]:
    event = ArticlePublished(event_id=str(uuid.uuid4()), article_id=f"urn:newswire:article:{n}", version=1,
                             occurred_at=datetime.now(UTC), correlation_id="c", source_event_id="e", item=ITEM)
    return f"{1_000 + n}-0", {k.encode(): v for k, v in encode_event(event).items()}


def test_the_items_the_live_tail_keeps_give_the_garbage_collector_nothing_to_walk() -> None:
    window = _Window("0-0")
    entries = [_entry(n) for n in range(2_000)]
    gc.collect()
    before = len(gc.get_objects())
    for entry in entries:
        published = to_published(0, entry)
        assert published is not None
        window.append(published, keep=10_000)
    del published
    gc.collect()
    kept = len(gc.get_objects()) - before
    assert len(window.items) == 2_000
    assert kept < 20, f"{kept} objects for the collector to walk in a window of 2,000 items"
    kept_item = window.items[5]
    assert kept_item.facts == FACTS
    assert kept_item.data == encode_json(ITEM)
    assert kept_item.frame == b"id: 1005-0\nevent: ninjs\ndata: " + encode_json(ITEM) + b"\n\n"


def test_the_window_keeps_at_most_twice_its_size_and_knows_where_it_is_complete() -> None:
    window = _Window("0-0")
    for n in range(250):
        published = to_published(0, _entry(n))
        assert published is not None
        window.append(published, keep=100)
    assert 100 <= len(window.items) <= 200
    first = window.items[0].entry_id
    assert not window.covers("1000-0")  # the oldest entries are gone: a resume from there reads Redis
    assert window.covers(first) and window.covers("1249-0")
    assert [p.entry_id for p in window.after("1240-0", 5)] == [f"{1241 + n}-0" for n in range(5)]
    assert [p.entry_id for p in window.after(first, 1_000)] == [p.entry_id for p in window.items[1:]]
