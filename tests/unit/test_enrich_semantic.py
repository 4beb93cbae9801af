"""The optional semantic extra: the clear error without it, the hybrid index (with a stand-in embedder,
so it runs everywhere) and, only where ``pip install newswire[semantic]`` was done, the real MiniLM."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from services.enrich import semantic
from services.enrich.related import MIN_COSINE, RelatedIndex
from services.enrich.semantic import Embedder, SemanticUnavailable, quantize

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)

# The stand-in embedder: one axis per concept, so "soldiers" and "army" land on the same one.
CONCEPTS = (
    ("troops", "soldiers", "army", "military"),
    ("budget", "parliament", "tax", "spending"),
    ("coffee", "harvest", "crop", "growers"),
    ("election", "vote", "ballot", "polls"),
)


class ConceptEmbedder:
    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        out = np.full((len(texts), 8), 0.05, dtype=np.float32)
        for row, text in enumerate(texts):
            lower = text.lower()
            for axis, words in enumerate(CONCEPTS):
                out[row, axis] += sum(w in lower for w in words)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


ARCHIVE = [
    ("mil-1", "Army units gather at the frontier", "Military convoys were seen near the border."),
    ("bud-1", "Parliament passes budget after long debate", "Members voted on the tax plan."),
    ("cof-1", "Coffee prices climb on poor harvest", "Growers reported a weak crop."),
]


def _index(embedder: object | None) -> RelatedIndex:
    index = RelatedIndex(embedder=embedder)  # type: ignore[arg-type]
    for n, (aid, headline, lead) in enumerate(ARCHIVE):
        index.add(aid, headline, lead, [], T0 + timedelta(hours=n))
    return index


# --- Without the extra ---------------------------------------------------------------------------


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(SemanticUnavailable, match=r"pip install newswire\[semantic\]") as caught:
        Embedder()
    assert isinstance(caught.value, ImportError)
    assert not semantic.available()


def test_worker_refuses_to_start_semantic_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.enrich import __main__ as worker
    from services.wire.settings import Settings

    monkeypatch.setitem(sys.modules, "tokenizers", None)
    monkeypatch.setenv("NEWSWIRE_ENRICH_SEMANTIC", "1")
    with pytest.raises(SemanticUnavailable, match=r"pip install newswire\[semantic\]"):
        worker.build(Settings.from_env({}))
    assert worker.semantic_enabled({"NEWSWIRE_ENRICH_SEMANTIC": "true"})
    assert not worker.semantic_enabled({})
    assert not worker.semantic_enabled({"NEWSWIRE_ENRICH_SEMANTIC": "0"})


def test_default_index_has_no_embedder_and_no_vectors() -> None:
    index = _index(None)
    assert index.embedder is None
    assert index._vec_codes.size == 0
    assert index.search("Troops mass at the border", "", [], now=T0 + timedelta(days=1))[0].article_id == "mil-1"


def test_quantize_keeps_cosines() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(size=(50, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    codes, scale = quantize(v)
    assert codes.dtype == np.int8 and scale.dtype == np.float32
    approx = codes.astype(np.float32) * scale[:, None]
    assert np.abs(approx @ v.T - v @ v.T).max() < 0.01


def test_hybrid_finds_a_story_with_no_shared_word() -> None:
    query = ("Soldiers deployed", "Thousands of troops moved in overnight.")
    assert _index(None).search(*query, [], now=T0 + timedelta(days=1)) == []  # BM25 alone: no shared term
    links = _index(ConceptEmbedder()).search(*query, [], now=T0 + timedelta(days=1))
    assert [link.article_id for link in links] == ["mil-1"]  # the others are below MIN_COSINE
    assert MIN_COSINE > 0


def test_hybrid_keeps_bm25_matches_and_ranks_by_both() -> None:
    index = _index(ConceptEmbedder())
    index.add("bud-2", "Budget vote delayed", "The parliament vote on spending moved to next week.", [], T0 + timedelta(hours=5))
    links = index.search("Parliament budget vote", "", [], now=T0 + timedelta(days=1))
    assert {link.article_id for link in links} == {"bud-1", "bud-2"}
    assert links == index.search("Parliament budget vote", "", [], now=T0 + timedelta(days=1))  # deterministic


def test_search_then_add_embeds_the_article_once_and_excludes_itself() -> None:
    embedder = ConceptEmbedder()
    index = _index(embedder)
    before = embedder.calls
    headline, lead = "Army convoy at the border", "More military units arrived."
    links = index.search(headline, lead, [], now=T0 + timedelta(days=1), exclude_article_id="mil-2")
    index.add("mil-2", headline, lead, [], T0 + timedelta(days=1))
    assert embedder.calls == before + 1
    assert [link.article_id for link in links] == ["mil-1"]
    again = index.search(headline, lead, [], now=T0 + timedelta(days=2), exclude_article_id="mil-2")
    assert [link.article_id for link in again] == ["mil-1"]


def test_vectors_follow_documents_through_compaction() -> None:
    index = RelatedIndex(embedder=ConceptEmbedder())  # type: ignore[arg-type]
    for n in range(1100):
        index.add(f"x-{n}", f"Coffee growers report {n}", "A weak crop.", [], T0)
    for n in range(1100):
        index.remove(f"x-{n}")  # past 1000 removed, more dead than alive: compacted
    index.add("mil-1", "Army units gather at the frontier", "Military convoys.", [], T0)
    assert len(index) == 1 and index._vec_codes.shape[0] >= 1
    links = index.search("Soldiers deployed", "Troops moved.", [], now=T0 + timedelta(hours=1))
    assert [link.article_id for link in links] == ["mil-1"]


def test_window_and_removal_apply_to_semantic_matches() -> None:
    index = _index(ConceptEmbedder())
    query = ("Soldiers deployed", "Troops moved in.")
    assert index.search(*query, [], now=T0 + timedelta(days=40)) == []  # outside the 30-day window
    index.remove("mil-1")
    assert index.search(*query, [], now=T0 + timedelta(days=1)) == []


# --- With the extra (skipped where it is not installed: CI does not install it) ------------------


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tokenizers")
    pytest.importorskip(semantic.MODEL_PACKAGE)
    return Embedder()


def test_minilm_embeds_normalised_float32(minilm: Embedder) -> None:
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply today."]
    v = minilm.embed(texts)
    assert v.shape == (3, semantic.DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > 0.6 > 0.2 > sims[0, 2]  # fp32 all-MiniLM-L6-v2 gives .75 and .01
    assert np.allclose(minilm.embed(texts[:1])[0], v[0], atol=1e-5)  # batch padding does not change a vector
    assert minilm.embed([]).shape == (0, semantic.DIM)


def test_minilm_hybrid_links_a_paraphrase(minilm: Embedder) -> None:
    from services.enrich.core import new_enricher

    enricher = new_enricher(minilm)
    assert enricher.index.embedder is minilm
    archive = [*ARCHIVE, ("mkt-1", "Equities slump as investors flee", "Equity indices dropped sharply.")]
    for n, (aid, headline, lead) in enumerate(archive):
        enricher.index_article(aid, headline, lead, [], T0 + timedelta(hours=n))
    query = ("Stock markets tumble", "Shares plunged worldwide.")  # no word in common with mkt-1 (cosine .62)
    assert RelatedIndex().search(*query, [], now=T0) == []
    links = enricher.index.search(*query, [], now=T0 + timedelta(days=1))
    assert [link.article_id for link in links] == ["mkt-1"]


def test_bench_semantic_rows(minilm: Embedder, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import enrich
    from bench.enrich_data import write_synthetic_data

    write_synthetic_data(tmp_path)
    assert enrich.main(["--quick", "--semantic", "--data", str(tmp_path), "--sizes", "300"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "semantic hybrid" in line]
    assert len(rows) == 3 and all(line.startswith("| related |") for line in rows)
    assert "--semantic" in out
