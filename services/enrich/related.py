"""Related links: an incremental BM25 index over headline + lead of earlier articles.

Text is lowercased, split into words, English stop words dropped and PyStemmer-stemmed. Scoring is
Okapi BM25 (k1 1.5, b 0.75, idf ``ln(1 + (N - df + 0.5) / (df + 0.5))``) over live documents.

``search`` keeps documents published inside ``[now - window, now]`` other than the query's own
article, takes the top 20 by BM25 and re-ranks them by ``bm25 / max_bm25 + 0.6 * Jaccard(entity
ids)``. A candidate is linked only if its *match* - its BM25 divided by the sum of the idf of the query's
``MATCH_TERMS`` most specific terms (a term no document has counts as if one had it) - is at least
``MIN_MATCH``: roughly, the documents must share a fair part of what is specific to the query, so a
story about another subject gets no links even when the index is small and a stray word is rare,
while a long headline + lead query is not held to sharing most of its words. Ties break on article id.

With an ``embedder`` (the optional semantic extra, ``services.enrich.semantic``) each document also
keeps its headline + lead embedding as int8 codes plus a float32 scale (388 bytes), and ``search`` pools
the BM25 candidates that pass ``MIN_MATCH`` with the ``TOP_N`` nearest documents by cosine (at least
``MIN_COSINE``), scores the pool ``0.5 * bm25 / max_bm25 + 0.5 * min-max(cosine)`` and takes the top 20
by that into the same entity re-rank (the hybrid score in place of ``bm25 / max_bm25``). Without an
embedder nothing of this runs.

Memory: each document keeps its length, publication time, a bytes flag, its unique term ids (an
``array('I')``) and its entity ids (a tuple of ints); postings are parallel ``array`` s of document
numbers and the codes of their (term frequency, document length) pairs, which a search weighs with a
table of the pairs. Removed or replaced documents are masked and compacted away lazily.
"""

from __future__ import annotations

import bisect
import itertools
import math
from array import array
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from schemas.events import RelatedLink
from services.enrich.text import spaced, stem_words, uncached_stemmer

if TYPE_CHECKING:
    from services.enrich.semantic import Embedder

K1 = 1.5
B = 0.75
TOP_N = 20
ENTITY_WEIGHT = 0.6
MIN_MATCH = 0.2
MATCH_TERMS = 8
SEARCHED_KEPT = 2_000  # analysed queries kept for the articles' own indexing (search, then add)
DEFAULT_WINDOW = timedelta(days=30)
HYBRID_BM25 = 0.5  # hybrid = HYBRID_BM25 * bm25 / max + (1 - HYBRID_BM25) * min-max(cosine)
MIN_COSINE = 0.5  # a document found by its embedding alone must be at least this close


def _words(spec: str) -> frozenset[str]:
    """A word set written as one whitespace-separated string."""
    return frozenset(spec.split())


STOP_WORDS = _words(
    """a about above after again against all almost also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they this
    those through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves said says say told according new one two three since
    may might must shall us per via mr ms mrs s t"""
)


def _best(ids: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """The positions of the ``n`` best of ``scores``, highest first, ties in order of ``ids``: what the
    first ``n`` of a full sort by (-score, id) are, but sorting only the scores at least as high as the
    ``n``-th highest (a search may have thousands of candidates for a top 20)."""
    if scores.size > n:
        nth = np.partition(scores, scores.size - n)[scores.size - n]
        within = np.flatnonzero(scores >= nth)  # every tie of the n-th too, so that ids decide among them
        return within[np.lexsort((ids[within], -scores[within]))[:n]]
    return np.lexsort((ids, -scores))[:n]


class Analyzer:
    """Lowercase, split, drop stop words, stem (each distinct word once, then from a cache)."""

    def __init__(self) -> None:
        self._stemmer = uncached_stemmer()
        self._stems: dict[str, str] = {}

    def terms(self, text: str) -> list[str]:
        words = [w for w in spaced(text.lower()).split() if w not in STOP_WORDS and not w.isdigit()]
        return stem_words(self._stemmer, self._stems, words)


class RelatedIndex:
    """Incremental BM25 over earlier articles; ``add`` of a known id replaces that document."""

    def __init__(self, analyzer: Analyzer | None = None, embedder: Embedder | None = None) -> None:
        self._an = analyzer or Analyzer()
        self._embedder = embedder
        self._vec_codes = np.zeros((0, 0), dtype=np.int8)  # [capacity, dim] int8, only with an embedder
        self._vec_scale: array[float] = array("f")
        self._last_vector: tuple[str, np.ndarray] | None = None  # search then add embed the same text once
        self._term_ids: dict[str, int] = {}
        self._entity_ids: dict[str, int] = {}
        self._post_docs: list[array[int]] = []
        # beside each posting's document, the code of its (term frequency, document length) pair: a
        # search weighs a posting by a table of the pairs, not by reading its document's length
        self._post_codes: list[array[int]] = []
        self._pair_code: dict[tuple[int, int], int] = {}
        self._pair_tf: array[float] = array("d")
        self._pair_len: array[float] = array("d")
        self._df: array[int] = array("I")
        self._doc_len: array[int] = array("I")
        self._published: array[float] = array("d")
        self._latest: array[float] = array("d")  # running maximum of _published: bisect for the window start
        self._alive = bytearray()
        # every document's term ids one after another, and where each document's ids end: one array,
        # not one per document, so the garbage collector has no more to walk as the archive grows
        self._doc_term_ids: array[int] = array("I")
        self._doc_term_end: array[int] = array("Q")
        self._doc_entities: list[tuple[int, ...]] = []
        self._doc_article: list[str] = []
        self._doc_headline: list[str] = []
        self._by_article: dict[str, int] = {}
        self._total_len = 0
        self._dead = 0
        # headline + lead -> its terms, as the last searches analysed them: an article is searched for
        # when it is enriched and added when it comes back published, with the same headline and lead
        self._searched_terms: dict[str, list[str]] = {}
        # term -> (window start doc, offset of its first posting there) of the last search: the window
        # only moves forward, so the next search looks for the new start from there, not from the top.
        self._window_start: dict[int, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self._by_article)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._by_article

    def _entities(self, entity_ids: Iterable[str], create: bool) -> tuple[int, ...]:
        out: set[int] = set()
        for e in entity_ids:
            n = self._entity_ids.get(e)
            if n is None and create:
                n = self._entity_ids[e] = len(self._entity_ids)
            if n is not None:
                out.add(n)
        return tuple(sorted(out))

    @property
    def embedder(self) -> Embedder | None:
        return self._embedder

    def _vector(self, text: str) -> np.ndarray:
        """The embedding of ``text`` (the last one is kept: a search and then an add of one article)."""
        assert self._embedder is not None
        if self._last_vector is not None and self._last_vector[0] == text:
            return self._last_vector[1]
        vector: np.ndarray = self._embedder.embed([text])[0]
        self._last_vector = (text, vector)
        return vector

    def _store_vector(self, doc: int, vector: np.ndarray) -> None:
        from services.enrich.semantic import quantize

        codes, scale = quantize(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if doc >= self._vec_codes.shape[0] or self._vec_codes.shape[1] != codes.shape[1]:
            grown = np.zeros((max(1024, 2 * (doc + 1)), codes.shape[1]), dtype=np.int8)
            if self._vec_codes.shape[1] == codes.shape[1]:
                grown[: self._vec_codes.shape[0]] = self._vec_codes
            self._vec_codes = grown
        self._vec_codes[doc] = codes[0]
        self._vec_scale.append(float(scale[0]))

    def add(
        self,
        article_id: str,
        headline: str,
        lead: str,
        entity_ids: Iterable[str],
        published_at: datetime,
        vector: np.ndarray | None = None,
    ) -> None:
        """Index an article (a new version replaces the old one).

        ``vector``: its embedding, if already computed (used only with an embedder; else it is embedded here).
        """
        self.remove(article_id)
        text = f"{headline}\n{lead}"
        if self._embedder is not None:
            self._store_vector(len(self._doc_len), self._vector(text) if vector is None else vector)
        known = self._searched_terms.pop(text, None)
        counts = Counter(known if known is not None else self._an.terms(text))
        doc = len(self._doc_len)
        length = sum(counts.values())
        terms = array("I")
        for term, tf in counts.items():
            t = self._term_ids.get(term)
            if t is None:
                t = self._term_ids[term] = len(self._term_ids)
                self._post_docs.append(array("I"))
                self._post_codes.append(array("I"))
                self._df.append(0)
            self._post_docs[t].append(doc)
            self._post_codes[t].append(self._code(min(tf, 65535), length))
            self._df[t] += 1
            terms.append(t)
        self._doc_len.append(length)
        ts = published_at.timestamp()
        self._published.append(ts)
        self._latest.append(max(ts, self._latest[-1]) if self._latest else ts)
        self._alive.append(1)
        self._doc_term_ids.extend(terms)
        self._doc_term_end.append(len(self._doc_term_ids))
        self._doc_entities.append(self._entities(entity_ids, create=True))
        self._doc_article.append(article_id)
        self._doc_headline.append(headline)
        self._by_article[article_id] = doc
        self._total_len += length

    def _code(self, tf: int, length: int) -> int:
        """The code of a (term frequency, document length) pair (a few hundred of them in an archive)."""
        code = self._pair_code.get((tf, length))
        if code is None:
            code = self._pair_code[(tf, length)] = len(self._pair_tf)
            self._pair_tf.append(tf)
            self._pair_len.append(length)
        return code

    def remove(self, article_id: str) -> None:
        """Drop an article from the index (unknown ids are ignored)."""
        doc = self._by_article.pop(article_id, None)
        if doc is None:
            return
        self._alive[doc] = 0
        for t in self._terms_of(doc):
            self._df[t] -= 1
        self._total_len -= self._doc_len[doc]
        self._doc_entities[doc] = ()
        self._doc_headline[doc] = ""
        self._dead += 1
        if self._dead > 1000 and self._dead > len(self._by_article):
            self._compact()

    def _terms_of(self, doc: int) -> array[int]:
        """The term ids of document ``doc``."""
        return self._doc_term_ids[self._doc_term_end[doc - 1] if doc else 0 : self._doc_term_end[doc]]

    def _compact(self) -> None:
        """Rebuild without removed documents (document numbers change; nothing outside sees them)."""
        live = sorted(self._by_article.values())
        articles, headlines, entities, published = self._doc_article, self._doc_headline, self._doc_entities, self._published
        term_ids, term_end = array("I"), array("Q")
        for d in live:
            term_ids.extend(self._terms_of(d))
            term_end.append(len(term_ids))
        remap = {d: i for i, d in enumerate(live)}
        post_docs: list[array[int]] = [array("I") for _ in self._post_docs]
        post_codes: list[array[int]] = [array("I") for _ in self._post_codes]
        for t, (docs, codes) in enumerate(zip(self._post_docs, self._post_codes, strict=True)):
            for d, code in zip(docs, codes, strict=True):
                if d in remap:
                    post_docs[t].append(remap[d])
                    post_codes[t].append(code)
        self._post_docs, self._post_codes = post_docs, post_codes
        self._doc_len = array("I", (self._doc_len[d] for d in live))
        self._published = array("d", (published[d] for d in live))
        self._latest = array("d", itertools.accumulate(self._published, max))
        self._alive = bytearray(b"\x01" * len(live))
        self._doc_term_ids, self._doc_term_end = term_ids, term_end
        self._doc_entities = [entities[d] for d in live]
        self._doc_article = [articles[d] for d in live]
        self._doc_headline = [headlines[d] for d in live]
        self._by_article = {self._doc_article[i]: i for i in range(len(live))}
        if self._embedder is not None:
            self._vec_codes = self._vec_codes[live].copy()
            self._vec_scale = array("f", (self._vec_scale[d] for d in live))
        self._dead = 0
        self._window_start.clear()

    def _first_in_window(self, t: int, lo: int) -> int:
        """The offset of term ``t``'s first posting at or after document ``lo``."""
        if not lo:
            return 0
        cached = self._window_start.get(t)
        base = cached[1] if cached is not None and cached[0] <= lo else 0
        first = bisect.bisect_left(self._post_docs[t], lo, base)
        self._window_start[t] = (lo, first)
        return first

    def _scores(self, matched: list[tuple[int, float]], lo: int, size: int, avgdl: float) -> np.ndarray:
        """The BM25 of every document in the window (the ``size`` documents from document ``lo`` on): the
        matched terms' postings from ``lo`` on are gathered into two arrays (C-level copies, not a few
        numpy calls per term) and scored in one pass of numpy, each document's terms summed in the order
        given. A posting is weighed by its (term frequency, length) pair's entry in a table made for this
        search: ``idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / avgdl))``, the same operations in
        the same order as for each posting on its own, made once per pair instead of once per document."""
        if not matched:
            return np.zeros(size, dtype=np.float64)
        post_docs, post_codes = self._post_docs, self._post_codes
        gathered_docs: array[int] = array("I")
        gathered_codes: array[int] = array("I")
        sizes: list[int] = []
        for t, _ in matched:
            first = self._first_in_window(t, lo)
            docs, codes = post_docs[t], post_codes[t]
            gathered_docs.extend(docs[first:] if first else docs)
            gathered_codes.extend(codes[first:] if first else codes)
            sizes.append(len(docs) - first)
        doc: np.ndarray = np.frombuffer(gathered_docs, dtype=np.uint32)
        if lo:
            doc = doc.astype(np.intp) - lo
        code = np.frombuffer(gathered_codes, dtype=np.uint32)
        pair_tf = np.frombuffer(self._pair_tf, dtype=np.float64)
        # K1 * (1 - B + B * length / avgdl) + tf of every pair, in place
        pair_denom = np.frombuffer(self._pair_len, dtype=np.float64) * B
        pair_denom /= avgdl
        pair_denom += 1 - B
        pair_denom *= K1
        pair_denom += pair_tf
        # idf * tf * (K1 + 1) / denom, in place, without a temporary array of every posting for each step
        weights = np.repeat([idf for _, idf in matched], sizes)
        weights *= pair_tf.take(code)
        weights *= K1 + 1
        weights /= pair_denom.take(code)
        return np.bincount(doc, weights=weights, minlength=size)

    def search(
        self,
        headline: str,
        lead: str,
        entity_ids: Iterable[str],
        now: datetime,
        k: int = 5,
        exclude_article_id: str | None = None,
        window: timedelta = DEFAULT_WINDOW,
        vector: np.ndarray | None = None,
    ) -> list[RelatedLink]:
        """Up to ``k`` earlier articles related to the query, best first.

        ``vector``: the query's embedding, if already computed (used only with an embedder).
        """
        n_live = len(self._by_article)
        if n_live == 0 or k <= 0:
            return []
        text = f"{headline}\n{lead}"
        terms = self._searched_terms.get(text)
        if terms is None:
            terms = self._searched_terms[text] = self._an.terms(text)
            while len(self._searched_terms) > SEARCHED_KEPT:
                del self._searched_terms[next(iter(self._searched_terms))]
        query = set(terms)
        if not query:
            return []
        avgdl = self._total_len / n_live or 1.0
        unseen_idf = math.log(1 + (n_live - 0.5) / 1.5)  # as if df were 1
        now_ts = now.timestamp()
        # Documents are numbered in arrival order, so everything before ``lo`` was published before the
        # window opened (``_latest`` is the running maximum): score only the documents from ``lo`` on.
        lo = bisect.bisect_left(self._latest, now_ts - window.total_seconds())
        n_docs = len(self._doc_len)
        if lo >= n_docs:
            return []
        idfs: list[float] = []
        matched: list[tuple[int, float]] = []  # (term, idf) of the query terms some live document has
        for term in sorted(query):
            t = self._term_ids.get(term)
            df = self._df[t] if t is not None else 0
            if t is None or df == 0:
                idfs.append(unseen_idf)
                continue
            idf = math.log(1 + (n_live - df + 0.5) / (df + 0.5))
            idfs.append(idf)
            matched.append((t, idf))
        weight = sum(sorted(idfs, reverse=True)[:MATCH_TERMS])
        threshold = MIN_MATCH * weight
        scores = self._scores(matched, lo, n_docs - lo, avgdl)
        if self._embedder is not None:
            qvec = self._vector(text) if vector is None else vector
            return self._hybrid(scores, scores >= threshold, qvec, lo, now_ts, window, entity_ids, k, exclude_article_id)
        candidates = np.flatnonzero(scores >= threshold)
        if candidates.size == 0:
            return []
        cand_scores = scores[candidates]
        candidates = candidates + lo
        alive = np.frombuffer(self._alive, dtype=np.uint8)[candidates].astype(bool)
        published = np.frombuffer(self._published, dtype=np.float64)[candidates]
        keep = alive & (published <= now_ts) & (published >= now_ts - window.total_seconds())
        candidates, cand_scores = candidates[keep], cand_scores[keep]
        if exclude_article_id is not None and exclude_article_id in self._by_article:
            other = candidates != self._by_article[exclude_article_id]
            candidates, cand_scores = candidates[other], cand_scores[other]
        if candidates.size == 0:
            return []
        order = _best(candidates, cand_scores, TOP_N)
        top = candidates[order]
        top_scores = cand_scores[order]
        best = float(top_scores[0])
        wanted = set(entity_ids)
        query_entities = set(self._entities(wanted, create=False))
        unknown = len(wanted) - len(query_entities)  # entities no indexed article has
        ranked: list[tuple[float, str, int]] = []
        for d, score in zip(top.tolist(), top_scores.tolist(), strict=True):
            ents = self._doc_entities[d]
            union = len(query_entities.union(ents)) + unknown
            jaccard = len(query_entities.intersection(ents)) / union if union else 0.0
            final = score / best + ENTITY_WEIGHT * jaccard
            ranked.append((-final, self._doc_article[d], d))
        ranked.sort()
        return [RelatedLink(article_id=a, headline=self._doc_headline[d], score=round(-neg, 4)) for neg, a, d in ranked[:k]]

    def _hybrid(
        self,
        scores: np.ndarray,
        bm25_ok: np.ndarray,
        qvec: np.ndarray,
        lo: int,
        now_ts: float,
        window: timedelta,
        entity_ids: Iterable[str],
        k: int,
        exclude_article_id: str | None,
    ) -> list[RelatedLink]:
        """The semantic path of ``search``: pool, hybrid score, then the same entity re-rank."""
        n_docs = len(self._doc_len)
        q = np.asarray(qvec, dtype=np.float32)
        scale = np.frombuffer(self._vec_scale, dtype=np.float32)[lo:n_docs]
        cosine = (self._vec_codes[lo:n_docs].astype(np.float32) @ q) * scale
        alive = np.frombuffer(self._alive, dtype=np.uint8)[lo:n_docs].astype(bool)
        published = np.frombuffer(self._published, dtype=np.float64)[lo:n_docs]
        usable = alive & (published <= now_ts) & (published >= now_ts - window.total_seconds())
        if exclude_article_id is not None and exclude_article_id in self._by_article:
            own = self._by_article[exclude_article_id] - lo
            if own >= 0:
                usable[own] = False
        by_bm25 = np.flatnonzero(bm25_ok & usable)
        by_bm25 = by_bm25[_best(by_bm25, scores[by_bm25], TOP_N)]
        by_cosine = np.flatnonzero((cosine >= MIN_COSINE) & usable)
        by_cosine = by_cosine[_best(by_cosine, cosine[by_cosine], TOP_N)]
        pool = np.union1d(by_bm25, by_cosine)
        if pool.size == 0:
            return []
        bm25 = scores[pool]
        best_bm25 = float(bm25.max())
        cos = cosine[pool].astype(np.float64)
        spread = float(cos.max() - cos.min())
        cos_part = (cos - cos.min()) / spread if spread > 0 else np.ones_like(cos)
        bm25_part = bm25 / best_bm25 if best_bm25 > 0 else np.zeros_like(bm25)
        hybrid = HYBRID_BM25 * bm25_part + (1 - HYBRID_BM25) * cos_part
        order = np.lexsort((pool, -hybrid))[:TOP_N]
        return self._rerank(pool[order] + lo, hybrid[order], entity_ids, k)

    def _rerank(self, top: np.ndarray, top_scores: np.ndarray, entity_ids: Iterable[str], k: int) -> list[RelatedLink]:
        best = float(top_scores[0]) or 1.0
        wanted = set(entity_ids)
        query_entities = set(self._entities(wanted, create=False))
        unknown = len(wanted) - len(query_entities)
        ranked: list[tuple[float, str, int]] = []
        for d, score in zip(top.tolist(), top_scores.tolist(), strict=True):
            ents = self._doc_entities[d]
            union = len(query_entities.union(ents)) + unknown
            jaccard = len(query_entities.intersection(ents)) / union if union else 0.0
            final = score / best + ENTITY_WEIGHT * jaccard
            ranked.append((-final, self._doc_article[d], d))
        ranked.sort()
        return [RelatedLink(article_id=a, headline=self._doc_headline[d], score=round(-neg, 4)) for neg, a, d in ranked[:k]]
