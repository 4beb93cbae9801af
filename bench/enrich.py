"""Quality and speed of the enrich core: one command, one table.

    python -m bench.enrich [--data ../shared/data] [--quick] [--sizes 10000,100000,1000000] [--semantic]

- entity tags: P/R/F1 on CoNLL-2003 ``eng.testb`` at mention level and document level (distinct
  name+type per document), PER/ORG/LOC, with the vocabulary learned only from ``eng.train``
  (``bench/enrich_entities.py``);
- subjects: top-1 top-level IPTC Media Topic accuracy on BBC News and AG News (label mapping in
  ``bench/enrich_related.py``);
- related links: precision@5 on WikiRef220 (headline; headline + lead) and the UCI sample (headline),
  with BBC and AG News as distractors in the same index; ``--semantic`` (needs ``pip install
  newswire[semantic]``) adds a hybrid BM25 + MiniLM row under each, with the search latency of both;
- latency of ``Enricher.enrich`` (tags + subjects + related) per article, p50/p99, with a synthetic
  archive of each size, and the index's memory per archived article.

``--quick`` caps every set (a CI smoke test: under a minute). Prints the machine too.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from pathlib import Path

from bench.enrich_data import Article, read_ag, read_bbc, read_conll, read_uci, read_wikiref
from bench.enrich_entities import PRF, evaluate, learned_enricher
from bench.enrich_related import AG_MAP, BBC_MAP, measure_latency, related_precision, subject_accuracy
from bench.latency import machine
from services.enrich.core import load_default_enricher

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"


def _prf(prf: PRF) -> str:
    return f"{prf.p:.3f} | {prf.r:.3f} | {prf.f1:.3f}"


def run(data: Path, quick: bool, sizes: list[int], semantic: bool = False) -> list[str]:
    out = ["| section | set | measure | P | R | F1 / value |", "|---|---|---|---|---|---|"]
    base = load_default_enricher()

    # Entities.
    train = read_conll(data / "conll2003" / "eng.train")
    test = read_conll(data / "conll2003" / "eng.testb")
    if quick:
        train, test = train[:300], test[:60]
    enricher, events = learned_enricher(base, train)
    scores = evaluate(enricher, test, events)
    conll = f"CoNLL-2003 eng.testb ({scores.docs} docs; {events} vocabulary events from eng.train)"
    out.append(f"| entities | {conll} | mention, PER+ORG+LOC | {_prf(scores.mention)} |")
    out.append(f"| entities | {conll} | document (distinct name+type) | {_prf(scores.document)} |")
    out.append(f"| entities | {conll} | mention, demonyms counted as place mentions | {_prf(scores.with_demonyms)} |")
    out.append(f"| entities | {conll} | mention, 4 types (MISC gold counted as missed) | {_prf(scores.mention_4types)} |")
    out.append(f"| entities | {conll} | untyped spans, 4 types | {_prf(scores.untyped)} |")
    for kind, prf in scores.per_type.items():
        out.append(f"| entities | {conll} | mention, {kind} | {_prf(prf)} |")
    seed_only = evaluate(base, test, 0)
    out.append(f"| entities | {conll} | mention, seed vocabulary only (no learned events) | {_prf(seed_only.mention)} |")

    # Subjects.
    bbc, ag = read_bbc(data), read_ag(data)
    if quick:
        bbc, ag = bbc[::8], ag[::10]
    s_bbc = subject_accuracy(enricher, bbc, BBC_MAP)
    s_ag = subject_accuracy(enricher, ag, AG_MAP)
    for name, sc in ((f"BBC News ({s_bbc.n})", s_bbc), (f"AG News test ({s_ag.n})", s_ag)):
        out.append(f"| subjects | {name} | top-level IPTC accuracy (any subject: {sc.covered:.3f}) | | | {sc.accuracy:.3f} |")

    # Related links (the default enricher: related links use the wire's own vocabulary, not CoNLL's).
    wikiref, uci = read_wikiref(data), read_uci(data)
    distractors = [*bbc, *ag]
    embedder = None
    if semantic:
        from services.enrich.semantic import Embedder

        embedder = Embedder()
    vectors: dict[str, object] = {}
    for name, grouped, headline_only in (
        (f"wikiref ({len(wikiref)})", wikiref, True),
        (f"wikiref ({len(wikiref)})", wikiref, False),
        (f"UCI sample ({len(uci)})", uci, True),
    ):
        r = related_precision(base, grouped, distractors, headline_only)
        text = "headline" if headline_only else "headline + lead"
        out.append(
            f"| related | {name} + {len(distractors)} distractors | P@5, {text} ({r.queries} queries, "
            f"{r.no_links:.1%} got no link) | | | {r.p_at_5:.3f} |"
        )
        if embedder is not None:
            h = related_precision(base, grouped, distractors, headline_only, embedder, vectors)
            out.append(
                f"| related | {name} + {len(distractors)} distractors | P@5, {text}, semantic hybrid ({h.queries} queries, "
                f"{h.no_links:.1%} got no link; search p50/p95 ms: BM25 {r.search_p50_ms:.1f}/{r.search_p95_ms:.1f}, "
                f"hybrid incl. query embedding {h.search_p50_ms:.1f}/{h.search_p95_ms:.1f}) | | | {h.p_at_5:.3f} |"
            )

    # Latency and memory.
    queries = bbc[:200] if not quick else bbc[:40]
    words = _vocabulary([*bbc, *ag, *wikiref])
    for row in measure_latency(base, queries, sizes, words, repeat=1 if quick else 3):
        out.append(
            f"| latency | {row.archive:,} archived (synthetic), {len(queries)} BBC articles | enrich wall p50 / p99 ms; "
            f"CPU p50 {row.cpu_p50_ms:.2f}, p99 {row.cpu_p99_ms:.2f} (related alone p50 {row.related_p50_ms:.2f}; "
            f"index {row.bytes_per_article:.0f} B/article; built in {row.build_s:.1f} s) "
            f"| {row.p50_ms:.2f} | {row.p99_ms:.2f} | |"
        )
    return out


def _vocabulary(articles: list[Article]) -> list[str]:
    counts: Counter[str] = Counter()
    for a in articles:
        counts.update(re.findall(r"[a-z]{3,}", f"{a.headline} {a.text}".lower()))
    return [w for w, _ in counts.most_common(30_000)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.enrich", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the shared data folder (default: ../shared/data)")
    parser.add_argument("--quick", action="store_true", help="capped sets and archive sizes (CI smoke test)")
    parser.add_argument("--sizes", help="archive sizes, comma-separated (default 10000,100000,1000000; quick: 2000)")
    parser.add_argument("--semantic", action="store_true", help="add hybrid BM25 + MiniLM related rows (the semantic extra)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([2000] if args.quick else [10_000, 100_000, 1_000_000])
    started = time.perf_counter()
    lines = run(Path(args.data), args.quick, sizes, args.semantic)
    flags = (" --quick" if args.quick else "") + (" --semantic" if args.semantic else "")
    print(f"python -m bench.enrich{flags} --data {args.data}")
    print(f"machine: {machine()}")
    print()
    print("\n".join(lines))
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

