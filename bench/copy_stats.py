"""How alike the generated stories' headlines and leads are, beside real agency copy.

The related-links search walks the postings of every query term, so its cost follows how many
stories share a lead's words. ``python -m bench.copy_stats`` indexes generated stories and prints
the vocabulary, the commonest terms and the postings a search walks; ``--real PATH`` does the same
for real copy (AG News ``test.csv`` or the BBC ``bbc_fulltext.jsonl`` of the evaluation data), so the
two can be compared. Figures are per story, on the same number of stories.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.stories import story
from services.enrich.related import RelatedIndex
from services.enrich.text import html_to_text, lead


def generated(count: int, seed: int) -> Iterator[tuple[str, str]]:
    for n in range(count):
        s = story(n, seed)
        yield str(s["headline"]), lead(html_to_text(str(s["body"])))


def real(path: Path) -> Iterator[tuple[str, str]]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                yield row["title"], lead(row["description"])
    else:
        with path.open(encoding="utf-8") as f:
            for line in f:
                doc = json.loads(line)
                yield doc["title"], lead(doc["text"])


def stats(name: str, copy: list[tuple[str, str]], queries: int) -> str:
    index = RelatedIndex()
    start = datetime.now(UTC) - timedelta(hours=1)
    for i, (headline, text) in enumerate(copy[:-queries]):
        index.add(f"a{i}", headline, text, [], start + timedelta(milliseconds=i))
    analyzer = index._an
    df: Counter[str] = Counter()
    for headline, text in copy[:-queries]:
        df.update(set(analyzer.terms(f"{headline}\n{text}")))
    asked = copy[-queries:]
    began = time.perf_counter()
    for headline, text in asked:
        index.search(headline, text, [], now=start + timedelta(minutes=30))
    search_us = (time.perf_counter() - began) / len(asked) * 1e6
    walked = statistics.mean(sum(df[t] for t in set(analyzer.terms(f"{h}\n{x}"))) for h, x in asked)
    indexed = len(copy) - queries
    common = ", ".join(f"{t} {n / indexed:.0%}" for t, n in df.most_common(5))
    return (f"{name}: {indexed} stories indexed, {len(df):,} distinct terms; commonest: {common}; "
            f"a search walks {walked:,.0f} postings ({search_us:.0f} µs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, action="append", default=[], help="real copy: AG News CSV or BBC JSONL")
    parser.add_argument("--stories", type=int, default=None, help="stories of each (default: as many as the real copy)")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    real_copy = [doc for path in args.real for doc in real(path)]
    count = args.stories or len(real_copy) or 5000
    print(stats("generated", list(generated(count, args.seed)), args.queries))
    if real_copy:
        print(stats("real", real_copy[:count], args.queries))


if __name__ == "__main__":
    main()
