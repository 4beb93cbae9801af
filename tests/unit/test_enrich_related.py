"""The incremental BM25 related-links index."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.enrich.related import RelatedIndex

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
BY, RU, UA = "geonames:630336", "geonames:2017370", "geonames:690791"

ARCHIVE = [
    ("pol-1", "Parliament passes budget after long debate", "Members of parliament voted on the budget bill and tax plan.", []),
    (
        "pol-2",
        "Opposition leader calls for early election",
        "The opposition party demanded a vote as the government coalition wobbled.",
        [],
    ),
    ("pol-3", "Minister resigns over housing policy", "The housing minister quit the cabinet after criticism of the policy.", []),
    (
        "by-1",
        "Belarus hosts Russian troops for joint exercises",
        "Russian soldiers arrived in Belarus for military drills near the border with Ukraine.",
        [BY, RU, UA],
    ),
    ("eco-1", "Coffee prices climb on poor harvest", "Growers reported a weak crop, pushing coffee futures higher.", []),
]


def _index() -> RelatedIndex:
    index = RelatedIndex()
    for n, (aid, headline, lead, ents) in enumerate(ARCHIVE):
        index.add(aid, headline, lead, ents, T0 + timedelta(hours=n))
    return index


def test_earlier_belarus_story_is_linked() -> None:
    links = _index().search(
        "Russia withdraws troops from Belarus",
        "Russian soldiers have left Belarus, the border guards of Ukraine said.",
        [BY, RU, UA],
        now=T0 + timedelta(days=2),
    )
    assert [link.article_id for link in links][:1] == ["by-1"]
    assert links[0].headline == "Belarus hosts Russian troops for joint exercises"
    assert links[0].score > 1.0  # bm25 / max (1.0) plus the entity overlap


def test_unrelated_story_gets_no_links() -> None:
    links = _index().search(
        "Striker hits hat-trick as United win derby",
        "The forward scored three goals in the second half to lift his team to the top of the league table.",
        [],
        now=T0 + timedelta(days=2),
    )
    assert links == []


def test_never_links_to_itself_and_respects_the_window() -> None:
    index = _index()
    now = T0 + timedelta(days=2)
    headline, lead = ARCHIVE[3][1], ARCHIVE[3][2]
    assert "by-1" not in [x.article_id for x in index.search(headline, lead, [BY], now=now, exclude_article_id="by-1")]
    assert index.search(headline, lead, [BY], now=now)[0].article_id == "by-1"
    assert index.search(headline, lead, [BY], now=T0 + timedelta(days=40)) == []  # outside 30 days
    assert index.search(headline, lead, [BY], now=T0 - timedelta(days=1)) == []  # not yet published


def test_add_replaces_and_remove_drops() -> None:
    index = _index()
    now = T0 + timedelta(days=2)
    index.add("by-1", "Coffee growers celebrate record crop", "A bumper harvest.", [], T0)
    assert len(index) == len(ARCHIVE)
    assert index.search("Coffee crop record", "harvest", [], now=now)[0].article_id == "by-1"
    assert index.search("Belarus Russian troops exercises", "military drills", [BY], now=now) == []
    index.remove("by-1")
    index.remove("by-1")  # idempotent
    assert "by-1" not in index and len(index) == len(ARCHIVE) - 1


def test_entity_overlap_reranks_and_ties_break_on_article_id() -> None:
    index = RelatedIndex()
    for aid in ("b", "a", "c"):
        index.add(aid, "Storm hits coastal town", "Flooding in the harbour.", [], T0)
    index.add("d", "Storm hits coastal town", "Flooding in the harbour.", [BY], T0)
    links = index.search("Storm hits coastal town", "Flooding in the harbour.", [BY], now=T0, k=3)
    assert [x.article_id for x in links] == ["d", "a", "b"]


def test_compaction_keeps_results() -> None:
    index = RelatedIndex()
    for n in range(2500):
        index.add(f"x{n}", f"filler story number {n} about gardening", "plants and soil", [], T0)
    index.add("keep", "Belarus border guards report troop withdrawal", "Russian soldiers left Belarus.", [BY], T0)
    for n in range(2500):
        index.remove(f"x{n}")
    assert len(index) == 1
    links = index.search("Belarus troop withdrawal", "Russian soldiers", [BY], now=T0)
    assert [x.article_id for x in links] == ["keep"]


def test_a_window_that_moves_forward_scores_as_a_search_of_the_whole_archive_does() -> None:
    """A search scores only the documents from the window's start on, and starts each term's postings
    where the last search's window started. An index whose first document is dated in the future
    holds the same documents, but its window always starts at its first document: as the window
    moves on, both must link the same stories, all of them inside the window."""
    topics = [("budget vote parliament tax", []), ("troops border Belarus drills", [BY, RU]), ("coffee harvest prices", [])]
    future = ("later", "Budget vote, troops, border drills and coffee prices", "All of it.", [BY], T0 + timedelta(days=999))
    stories = [(f"a-{day:03d}", f"Day {day} story on {topics[day % 3][0]}", f"More on {topics[day % 3][0]} and day {day}.",
                topics[day % 3][1], T0 + timedelta(days=day)) for day in range(120)]
    windowed, whole = RelatedIndex(), RelatedIndex()
    for story in [*stories, future]:
        windowed.add(*story)
    for story in [future, *stories]:
        whole.add(*story)
    for day, hour in itertools.product(range(7, 125, 7), (1, 2)):  # the same window twice, then on
        now = T0 + timedelta(days=day, hours=hour)
        for words, ents in topics:
            query = (f"Today: {words}", f"The latest on {words}.", ents)
            links = windowed.search(*query, now=now)
            assert links == whole.search(*query, now=now)
            assert links and all(day - 30 <= int(link.article_id[2:]) <= day for link in links)


def test_an_article_searched_for_then_added_is_indexed_as_one_only_added() -> None:
    from services.enrich import related

    searched, added = _index(), _index()
    story = ("Belarus troops return", "Russian soldiers left Belarus, officials said.", [BY, RU])
    searched.search(*story, now=T0 + timedelta(days=1))  # analyses the headline and lead once ...
    for index in (searched, added):  # ... and indexing the article takes that analysis
        index.add("by-2", *story, T0 + timedelta(days=1))
    query = ("Troops in Belarus", "Soldiers and drills in Belarus.", [BY])
    assert searched.search(*query, now=T0 + timedelta(days=2)) == added.search(*query, now=T0 + timedelta(days=2))
    assert [x.article_id for x in searched.search(*query, now=T0 + timedelta(days=2))][:2] == ["by-1", "by-2"]
    for n in range(related.SEARCHED_KEPT + 10):  # what is kept for later indexing stays bounded
        searched.search(f"Query {n}", "Belarus", [], now=T0 + timedelta(days=2))
    assert len(searched._searched_terms) == related.SEARCHED_KEPT


def test_removals_and_compaction_score_as_an_index_of_only_what_is_left() -> None:
    topics = ["budget vote parliament tax", "troops border drills", "coffee harvest prices", "storm flooding harbour"]
    words = ["amber", "basalt", "cedar", "delta", "ember", "fjord", "granite", "heron", "indigo", "juniper", "kestrel",
             "lagoon", "marble"]
    stories = [(f"s{n:04d}", f"{topics[n % 4]} report {words[n % 11]}", f"More on {topics[(n + 1) % 4]} near {words[n % 13]}.",
                [], T0) for n in range(3000)]
    kept = [s for n, s in enumerate(stories) if n % 3 == 0]
    shrunk, fresh = RelatedIndex(), RelatedIndex()
    for story in stories:
        shrunk.add(*story)
    for n, story in enumerate(stories):
        if n % 3:
            shrunk.remove(story[0])  # 2,000 removals: a compaction part of the way, removals after it
    for story in kept:
        fresh.add(*story)
    assert len(shrunk) == len(fresh) == 1000
    for topic, word in itertools.product(topics, words[::3]):
        query = (f"{topic} report {word}", f"More on {topic} near {word}.")
        got = shrunk.search(*query, [], now=T0, k=8)
        assert got and got == fresh.search(*query, [], now=T0, k=8)


def test_the_best_candidates_are_the_head_of_a_full_sort_ties_and_all() -> None:
    """A search ranks its candidates by sorting only those at least as high as the 20th: that must give
    what a full sort by (-score, id) gives, ties at the boundary decided by id."""
    import numpy as np

    from services.enrich.related import _best

    rng = np.random.default_rng(7)
    for size in (0, 1, 5, 20, 21, 200, 5000):
        for levels in (3, 50, 10**6):  # few distinct scores (many ties), some, nearly all distinct
            ids = rng.permutation(size * 2)[:size]
            scores = rng.integers(0, levels, size).astype(np.float64) / 7
            for n in (1, 5, 20):
                expected = np.lexsort((ids, -scores))[:n]
                got = _best(ids, scores, n)
                assert got.tolist() == expected.tolist()


def test_scores_are_okapi_bm25_of_the_live_documents_written_out_plainly() -> None:
    """The index's scores (weighed by a table of term frequency and length pairs, summed by numpy)
    against BM25 computed document by document: the same links in the same order, the same scores."""
    import math
    import random

    from services.enrich import related

    rnd = random.Random(5)
    vocab = ["harbour", "storm", "budget", "minister", "troops", "border", "coffee", "harvest", "flood", "vote", "tax",
             "port", "ferry", "strike", "union", "wages", "drought", "rain", "bank", "rates", "court", "ruling"]
    index = related.RelatedIndex()
    texts: dict[str, str] = {}
    for n in range(400):
        words = rnd.choices(vocab[: 6 + n % 16], k=rnd.randint(3, 14))  # repeats: term frequencies above 1
        texts[f"d{n:03d}"] = " ".join(words)
        index.add(f"d{n:03d}", texts[f"d{n:03d}"], "", [], T0)
    for n in range(0, 400, 9):
        index.remove(f"d{n:03d}")
        del texts[f"d{n:03d}"]
    terms = {a: index._an.terms(t) for a, t in texts.items()}
    avgdl = sum(map(len, terms.values())) / len(terms)
    for _ in range(40):
        query = " ".join(rnd.sample(vocab, rnd.randint(2, 6)))
        qterms = set(index._an.terms(query))
        idf = {t: math.log(1 + (len(terms) - df + 0.5) / (df + 0.5))
               for t in qterms if (df := sum(t in ts for ts in terms.values()))}
        unseen = math.log(1 + (len(terms) - 0.5) / 1.5)
        weight = sum(sorted((idf.get(t, unseen) for t in qterms), reverse=True)[: related.MATCH_TERMS])
        bm25 = {a: sum(idf[t] * ts.count(t) * (related.K1 + 1)
                       / (ts.count(t) + related.K1 * (1 - related.B + related.B * len(ts) / avgdl)) for t in idf if t in ts)
                for a, ts in terms.items()}
        ranked = sorted(((-s, a) for a, s in bm25.items() if s >= related.MIN_MATCH * weight))[: related.TOP_N]
        expected = [(a, -s / -ranked[0][0]) for s, a in ranked[:5]]
        got = index.search(query, "", [], now=T0, k=5)
        assert [x.article_id for x in got] == [a for a, _ in expected], query
        assert [x.score for x in got] == [pytest.approx(s, abs=1e-4) for _, s in expected], query
