"""Subject accuracy, related-link precision@5 and per-article latency for ``bench.enrich``."""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bench.enrich_data import Article
from schemas.events import ArticleFiled
from services.enrich.core import Enricher
from services.enrich.related import RelatedIndex
from services.enrich.text import lead

if TYPE_CHECKING:
    from services.enrich.semantic import Embedder

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# Top-level IPTC Media Topics that count as a correct answer for each class.
BBC_MAP: dict[str, frozenset[str]] = {
    "business": frozenset({"medtop:04000000"}),  # economy, business and finance
    "entertainment": frozenset({"medtop:01000000"}),  # arts, culture, entertainment and media
    "politics": frozenset({"medtop:11000000"}),  # politics and government
    "sport": frozenset({"medtop:15000000"}),  # sport
    "tech": frozenset({"medtop:13000000"}),  # science and technology
}
AG_MAP: dict[str, frozenset[str]] = {
    # World: politics, conflict, crime, disaster (the four IPTC roots world news is filed under)
    "1": frozenset({"medtop:11000000", "medtop:16000000", "medtop:02000000", "medtop:03000000"}),
    "2": frozenset({"medtop:15000000"}),  # Sports: sport
    "3": frozenset({"medtop:04000000"}),  # Business: economy, business and finance
    "4": frozenset({"medtop:13000000"}),  # Sci/Tech: science and technology
}


@dataclass
class SubjectScore:
    accuracy: float
    covered: float  # share of articles with any subject
    n: int


def subject_accuracy(enricher: Enricher, articles: Sequence[Article], mapping: dict[str, frozenset[str]]) -> SubjectScore:
    """Top-1 top-level subject in the class's mapped set; an article with no subject counts as wrong."""
    right = covered = 0
    for a in articles:
        subjects = enricher.topics.subjects(a.headline, a.text)
        top = next((s.code for s in subjects if enricher.topics.topics[s.code].level == 1), None)
        covered += top is not None
        right += top in mapping[a.label]
    n = len(articles)
    return SubjectScore(right / n if n else 0.0, covered / n if n else 0.0, n)


@dataclass
class RelatedScore:
    p_at_5: float
    no_links: float  # share of queries that got no link at all
    queries: int
    index_size: int
    search_p50_ms: float = 0.0  # one search, including embedding the query when semantic
    search_p95_ms: float = 0.0


def _entity_ids(enricher: Enricher, headline: str, text: str) -> list[str]:
    return [t.id for t in enricher.entities(headline, text)[0]]


def related_precision(
    enricher: Enricher,
    grouped: Sequence[Article],
    distractors: Sequence[Article],
    headline_only: bool,
    embedder: Embedder | None = None,
    vectors: dict[str, object] | None = None,
) -> RelatedScore:
    """P@5 of every grouped article as a query against one index of grouped + distractor articles.

    Every article is indexed as the wire would (headline + lead, entity tags from the headline and the
    full text) unless ``headline_only``, where both index and queries see the headline alone. All
    articles share one publication time, so the window keeps them all.

    With an ``embedder`` the index is hybrid; documents are embedded in batches (``vectors`` caches them
    by text across calls) and each query embeds its own text inside ``search``, as the wire does.
    """
    index = RelatedIndex(embedder=embedder)
    texts: dict[str, tuple[str, str, list[str]]] = {}
    articles = [*grouped, *distractors]
    for a in articles:
        body = "" if headline_only else a.text
        texts[a.id] = (a.headline, lead(body), _entity_ids(enricher, a.headline, body))
    cache: dict[str, object] = {} if vectors is None else vectors
    if embedder is not None:
        missing = sorted({f"{h}\n{ld}" for h, ld, _ in texts.values()} - cache.keys())
        for text, vector in zip(missing, embedder.embed(missing), strict=True):
            cache[text] = vector
    for a in articles:
        entry = texts[a.id]
        vector = cache.get(f"{entry[0]}\n{entry[1]}") if embedder is not None else None
        index.add(a.id, entry[0], entry[1], entry[2], T0, vector=vector)  # type: ignore[arg-type]
    group_of = {a.id: a.group for a in grouped}
    sizes = Counter(a.group for a in grouped)
    hits = empty = queries = 0
    took: list[float] = []
    for a in grouped:
        if sizes[a.group] < 2:
            continue  # no other article is relevant
        headline, article_lead, entities = texts[a.id]
        started = time.perf_counter()
        links = index.search(headline, article_lead, entities, now=T0 + timedelta(hours=1), k=5, exclude_article_id=a.id)
        took.append(time.perf_counter() - started)
        queries += 1
        empty += not links
        hits += sum(group_of.get(link.article_id) == a.group for link in links)
    took.sort()
    p50 = 1000 * statistics.median(took) if took else 0.0
    p95 = 1000 * took[min(len(took) - 1, int(0.95 * len(took)))] if took else 0.0
    return RelatedScore(
        hits / (5 * queries) if queries else 0.0, empty / queries if queries else 0.0, queries, len(index), p50, p95
    )


# --- Latency ------------------------------------------------------------------------------------

ARTICLES_PER_DAY = 1000  # the synthetic archive's rate: 1M articles span about 2.7 years


@dataclass
class LatencyRow:
    archive: int
    p50_ms: float
    p99_ms: float
    cpu_p50_ms: float  # thread CPU time: what the article costs, without waiting for a busy machine
    cpu_p99_ms: float
    related_p50_ms: float
    bytes_per_article: float
    build_s: float


ArchiveEntry = tuple[str, str, str, list[str], datetime]


def synthetic_archive(n: int, vocabulary: Sequence[str], entity_pool: Sequence[str], seed: int = 3) -> Iterable[ArchiveEntry]:
    """``n`` archive entries: Zipf-distributed words of ``vocabulary``, 3 entity ids, in publication order."""
    rng = random.Random(seed)
    weights = [1 / (r + 1) for r in range(len(vocabulary))]
    cumulative = list(_accumulate(weights))
    for i in range(n):
        words = rng.choices(vocabulary, cum_weights=cumulative, k=45)
        published = T0 + timedelta(seconds=i * 86_400 / ARTICLES_PER_DAY)
        article_id = f"urn:newswire:article:{uuid.UUID(int=rng.getrandbits(128))}"  # as long as real ids
        yield (article_id, " ".join(words[:9]), " ".join(words[9:]),
               rng.sample(list(entity_pool), 3), published)


def _accumulate(values: Iterable[float]) -> Iterable[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


def index_bytes(index: RelatedIndex) -> int:
    """Deep size of the index's containers (Python objects and array buffers), excluding the analyzer."""
    seen: set[int] = set()
    total = 0
    stack: list[object] = [v for k, v in vars_of(index).items() if k != "_an"]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set):
            stack.extend(obj)
    return total


def vars_of(obj: object) -> dict[str, object]:
    slots = getattr(type(obj), "__slots__", None)
    if slots:
        return {s: getattr(obj, s) for s in slots}
    return dict(vars(obj))


def measure_latency(
    enricher: Enricher, queries: Sequence[Article], sizes: Sequence[int], vocabulary: Sequence[str], repeat: int = 1
) -> list[LatencyRow]:
    """Per-article ``Enricher.enrich`` (tags + subjects + related) with the archive at each size."""
    rows = []
    entity_pool = [f"newswire:entity:{i}" for i in range(5000)]
    for size in sizes:
        index = RelatedIndex()
        gc.collect()
        started = time.perf_counter()
        for article_id, headline, article_lead, entities, published in synthetic_archive(size, vocabulary, entity_pool):
            index.add(article_id, headline, article_lead, entities, published)
        build_s = time.perf_counter() - started
        live = Enricher(enricher.vocabulary, enricher.topics, index, enricher.names)
        now = T0 + timedelta(seconds=size * 86_400 / ARTICLES_PER_DAY)
        filed = [
            ArticleFiled(event_id=f"q{i}", article_id=f"query:{i}", version=1, occurred_at=now, correlation_id="bench",
                         headline=a.headline, body_html="".join(f"<p>{p}</p>" for p in a.text.split("\n\n")))
            for i, a in enumerate(queries)
        ]
        for f in filed[:20]:
            live.enrich(f, now)  # warm caches
        times: list[float] = []
        cpu: list[float] = []
        related: list[float] = []
        step = timedelta(seconds=86_400 / ARTICLES_PER_DAY)  # the clock moves on as articles arrive
        for n, f in enumerate(filed * repeat):
            at = now + n * step
            c = time.thread_time()
            t = time.perf_counter()
            result = live.enrich(f, at)
            times.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
            t = time.perf_counter()
            index.search(f.headline, result.lead, [x.id for x in result.tags], now=at)
            related.append(time.perf_counter() - t)
        times.sort()
        cpu.sort()
        rows.append(
            LatencyRow(
                archive=size,
                p50_ms=1000 * statistics.median(times),
                p99_ms=1000 * times[min(len(times) - 1, int(0.99 * len(times)))],
                cpu_p50_ms=1000 * statistics.median(cpu),
                cpu_p99_ms=1000 * cpu[min(len(cpu) - 1, int(0.99 * len(cpu)))],
                related_p50_ms=1000 * statistics.median(related),
                bytes_per_article=index_bytes(index) / max(size, 1),
                build_s=build_s,
            )
        )
        del index, live
    return rows
