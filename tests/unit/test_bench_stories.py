"""The benchmark's generated stories (realistic size, deterministic, leads as varied as real copy) and its rate search."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.__main__ import stage_text
from bench.copy_stats import generated, stats
from bench.pipeline import RateRun
from bench.stories import story
from services.enrich.core import load_default_enricher
from services.enrich.related import Analyzer
from services.enrich.text import html_to_text


def test_stories_are_a_few_hundred_words_and_the_same_for_the_same_seed() -> None:
    sizes = [len(html_to_text(str(story(n)["body"])).split()) for n in range(50)]
    assert min(sizes) >= 300 and max(sizes) <= 650
    assert story(7, seed=3) == story(7, seed=3)
    assert story(7, seed=3) != story(8, seed=3)


def test_no_lead_term_is_in_more_than_a_fifth_of_the_leads() -> None:
    analyzer = Analyzer()
    leads = list(generated(2000, seed=1))
    df: Counter[str] = Counter()
    for headline, text in leads:
        df.update(set(analyzer.terms(f"{headline}\n{text}")))
    term, count = df.most_common(1)[0]
    assert count / len(leads) < 0.2, (term, count)
    assert len(df) > 2500  # the old template-only leads had about 800 distinct terms over 5,000 stories


def test_the_enricher_finds_people_places_and_organisations_in_them() -> None:
    enricher = load_default_enricher()
    s = story(3)
    tags, _ = enricher.entities(str(s["headline"]), html_to_text(str(s["body"])))
    assert {"person", "place", "organisation"} <= {t.type for t in tags}


def test_copy_stats_reports_the_postings_a_search_walks() -> None:
    line = stats("generated", list(generated(300, seed=1)), 50)
    assert line.startswith("generated: 250 stories indexed") and "postings" in line


@pytest.mark.parametrize(("flags", "pauses"), [([], "with 1 ms sleeping pauses"), (["--spin"], "with 1 ms busy-waiting pauses")])
def test_warmth_reports_both_costs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                   flags: list[str], pauses: str) -> None:
    from bench import warmth

    monkeypatch.setattr("sys.argv", ["warmth", "--stories", "10", "--pause-ms", "1", *flags])
    warmth.main()
    line, collections = capsys.readouterr().out.splitlines()[:2]
    assert line.startswith("enrichment CPU per story: back to back ") and pauses in line
    assert collections.startswith("garbage collections back to back, by generation (0 / 1 / 2): ")
    # the enrichment leaves nothing in reference cycles (tests/unit/test_enrich_core.py)
    assert collections.endswith("objects only the collector freed (in reference cycles): 0 (0.0 a story)"), collections


def test_the_collector_count_counts_what_a_collection_freed() -> None:
    import gc

    from bench.warmth import CollectorCount
    from services.wire.loop import log_long_collections

    class Node:
        def __init__(self) -> None:
            self.me = self

    gc.collect()
    count = CollectorCount()
    watch = log_long_collections(0, count)
    try:
        for _ in range(5):
            Node()  # each one a cycle of its own, freed only by a collection
        gc.collect()
    finally:
        gc.callbacks.remove(watch)
    assert count.runs[2] == 1 and count.collected >= 5


def test_warmth_parts_add_up_to_the_enrichment_it_times() -> None:
    import uuid
    from datetime import UTC, datetime

    from bench import warmth
    from schemas.events import ArticleFiled
    from services.enrich.core import new_enricher
    from services.ingest.core import sanitise_html

    now = datetime.now(UTC)
    events = [ArticleFiled(event_id=str(uuid.uuid4()), article_id=f"urn:newswire:article:w-{n}", version=1, occurred_at=now,
                           correlation_id="t", headline=str(s["headline"]), body_html=sanitise_html(str(s["body"])))
              for n, s in enumerate(story(n, 5) for n in range(30))]
    enricher = new_enricher()
    spent = warmth.parts(enricher, events, now)
    assert list(spent) == ["HTML to text", "lead", "entities", "subjects", "related search", "indexing"]
    assert all(us >= 0 for us in spent.values()) and spent["entities"] > 0
    assert len(enricher.index) == 30  # every story was indexed, as the worker does


async def test_the_rate_search_confirms_lower_while_a_long_run_grows_its_lag() -> None:
    """A wire that holds 300 stories/s for a 10 s probe but only 160/s for a minute: the search probes
    up to 400, bisects to 300, and the long runs step down by 0.8 until one holds (150)."""
    from bench.pipeline import Pipeline, RateRun

    tried: list[tuple[float, float]] = []

    async def at_rate(rate: float, seconds: float) -> RateRun:
        tried.append((rate, seconds))
        holds = rate <= (320 if seconds < 60 else 160)
        last = 20.0 if holds else 3000.0
        return RateRun(rate=rate, sent=100, accepted=100, delivered=100, latencies_ms=[20.0, last], elapsed_s=1.0,
                       send_behind_s=0.0, first_p50_ms=20.0, last_p50_ms=last, backlog_end=0)

    pipeline = Pipeline.__new__(Pipeline)
    pipeline.at_rate = at_rate  # type: ignore[method-assign]
    probes, confirmed = await pipeline.search(200, 200, 10, 60, 3000, lambda line: None)
    assert [r for r, _ in tried] == [200, 400, 300, 300, 240, 190, 150]
    assert [s for _, s in tried] == [10, 10, 10, 60, 60, 60, 60]
    assert confirmed is not None and confirmed.rate == 150 and confirmed.sustained
    assert [p.sustained for p in probes] == [True, False, True]


def test_a_parts_stage_text_gives_each_stages_median_tail_and_slowest_of_its_first_second() -> None:
    run = RateRun(rate=2, sent=4, accepted=4, delivered=4, latencies_ms=[1.0] * 4, elapsed_s=2.0, send_behind_s=0.0,
                  first_p50_ms=1.0, last_p50_ms=1.0, backlog_end=0,
                  stages_ms={"ingest": [1.0, 2.0, 9.0, 1.0], "enrich": [300.0, 5.0, 6.0, 4.0]})
    text = stage_text(run)
    assert text.startswith("ingest ") and "enrich " in text
    assert text.endswith("; slowest of the first second's stories: ingest 2.0, enrich 300.0")  # the first 2 of each
    assert stage_text(RateRun(rate=2, sent=0, accepted=0, delivered=0, latencies_ms=[], elapsed_s=0.0, send_behind_s=0.0,
                              first_p50_ms=0.0, last_p50_ms=0.0, backlog_end=0)) == ""
