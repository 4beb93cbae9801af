"""What a story's enrichment costs back to back, and with pauses between stories, in one process.

    python -m bench.warmth [--stories 500] [--pause-ms 20] [--spin] [--parts] [--batch 50]

The same stories through the same enricher (``Enricher.enrich`` and indexing for related links),
first one after another, then with a pause after each, as at a moderate filing rate. Prints the CPU
time per story (``time.process_time``) of both: when a process sleeps between stories, other work
(or nothing) runs meanwhile and each story starts with cold caches, so it costs more CPU than the
same story does in a busy stream. The wire's benchmark shows the same in its CPU-per-story columns
at 50 and 200 stories/s against stories pushed at once. ``--spin`` fills the pauses with a busy loop
instead of sleeping, so the process keeps its core: if a story still costs more after a pause, it is
not the sleep itself (going idle, being descheduled) but what the pause did to the caches.
It also prints the garbage collections that ran while the stories went through back to back, and
the objects they freed: garbage left in reference cycles, which waits for the collector (whose
passes pause the worker) where reference counting frees everything else as soon as it is done with.
``--parts`` also prints what each part of the enrichment costs back to back, one part after another
for each story as ``Enricher.enrich`` runs them (HTML to text, lead, entities, subjects, related
search, indexing). ``--batch N`` also compares the same stories enriched one at a time with the
same stories enriched N at a time, step by step (``Enricher.enrich_many``, as the enrich worker does
with a batch it reads), alternated three times, and prints the best of each.
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import UTC, datetime

from bench.stories import filed_story
from schemas.events import ArticleFiled
from services.enrich.core import RELATED_K, Enricher, Enrichment, new_enricher
from services.enrich.text import html_to_text, lead
from services.wire.loop import log_long_collections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=500)
    parser.add_argument("--pause-ms", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--spin", action="store_true", help="busy-wait through the pauses instead of sleeping")
    parser.add_argument("--parts", action="store_true", help="also the CPU per story of each part, back to back")
    parser.add_argument("--batch", type=int, default=0, help="also one at a time against N at a time, step by step")
    args = parser.parse_args()
    enricher = new_enricher()
    now = datetime.now(UTC)
    events = [filed_story(n, args.seed, now, "bench") for n in range(400 + 2 * args.stories)]

    for event in events[:400]:  # a warm archive and warm caches before either measurement
        enrich_and_index(enricher, event, now)
    busy, paused = events[400 : 400 + args.stories], events[400 + args.stories :]
    gc.collect()  # what was garbage before counts against nothing measured here
    collector = CollectorCount()
    watch = log_long_collections(0, collector)
    began = time.process_time()
    for event in busy:
        enrich_and_index(enricher, event, now)
    back_to_back = (time.process_time() - began) / len(busy) * 1e6
    gc.callbacks.remove(watch)
    spent = 0.0
    for event in paused:
        began = time.process_time()
        enrich_and_index(enricher, event, now)
        spent += time.process_time() - began
        if args.spin:
            until = time.perf_counter() + args.pause_ms / 1000
            while time.perf_counter() < until:
                pass
        else:
            time.sleep(args.pause_ms / 1000)
    with_pauses = spent / len(paused) * 1e6
    pauses = f"{args.pause_ms:g} ms {'busy-waiting' if args.spin else 'sleeping'} pauses"
    print(f"enrichment CPU per story: back to back {back_to_back:,.0f} µs; with {pauses} "
          f"{with_pauses:,.0f} µs ({with_pauses / back_to_back:.2f} x), {len(busy)} stories each")
    print(f"garbage collections back to back, by generation (0 / 1 / 2): {' / '.join(map(str, collector.runs))}, "
          f"{collector.ms:,.1f} ms in all; objects only the collector freed (in reference cycles): "
          f"{collector.collected:,} ({collector.collected / len(busy):,.1f} a story)")
    if args.parts:
        spent_by = parts(enricher, busy, now)
        print("by part, back to back: " + ", ".join(f"{name} {us:,.0f} µs" for name, us in spent_by.items()))
    if args.batch:
        alone, together = batched(enricher, busy, now, args.batch)
        print(f"enrichment CPU per story, the same {len(busy)} stories, best of three: one at a time {alone:,.0f} µs; "
              f"{args.batch} at a time, step by step {together:,.0f} µs ({together / alone:.2f} x)")


class CollectorCount:
    """What the services' own collection hook (``log_long_collections``, given a threshold of 0 so that it
    reports every collection) reports, summed: the collections by generation, their wall time, and the
    objects they freed (garbage in reference cycles, which reference counting alone never frees)."""

    def __init__(self) -> None:
        self.runs = [0, 0, 0]
        self.collected = 0
        self.ms = 0.0

    def __call__(self, _event: str, *, generation: int, ms: float, cpu_ms: float, collected: int) -> None:
        self.runs[generation] += 1
        self.ms += ms
        self.collected += collected


def enrich_and_index(enricher: Enricher, event: ArticleFiled, now: datetime) -> Enrichment:
    """What the enrich worker does for a filing, and its archive once the item is published."""
    found = enricher.enrich(event, now)
    enricher.index_article(event.article_id, event.headline, found.lead, [t.id for t in found.tags], now)
    return found


def batched(enricher: Enricher, events: list[ArticleFiled], now: datetime, size: int) -> tuple[float, float]:
    """CPU per story of ``events`` enriched one at a time and ``size`` at a time (``enrich_many``), best of
    three alternated runs of each (the archive does not change between them, so each run does the same work)."""
    def one_at_a_time() -> None:
        for event in events:
            enricher.enrich(event, now)

    def together() -> None:
        for i in range(0, len(events), size):
            enricher.enrich_many(events[i : i + size], now)

    best = {one_at_a_time: float("inf"), together: float("inf")}
    for _ in range(3):
        for run in best:
            began = time.process_time()
            run()
            best[run] = min(best[run], (time.process_time() - began) / len(events) * 1e6)
    return best[one_at_a_time], best[together]


def parts(enricher: Enricher, events: list[ArticleFiled], now: datetime) -> dict[str, float]:
    """CPU per story of each part of ``Enricher.enrich`` and of indexing, as they run for each story."""
    spent: dict[str, float] = {}

    def timed(name: str, began: float) -> float:
        ended = time.process_time()
        spent[name] = spent.get(name, 0.0) + ended - began
        return ended

    for event in events:
        began = time.process_time()
        text = html_to_text(event.body_html)
        began = timed("HTML to text", began)
        article_lead = lead(text)
        began = timed("lead", began)
        tags, _ = enricher.entities(event.headline, text)
        began = timed("entities", began)
        enricher.topics.subjects(event.headline, text)
        began = timed("subjects", began)
        ids = [t.id for t in tags]
        enricher.index.search(event.headline, article_lead, ids, now=now, k=RELATED_K, exclude_article_id=event.article_id)
        began = timed("related search", began)
        enricher.index_article(event.article_id, event.headline, article_lead, ids, now)
        timed("indexing", began)
    return {name: seconds / len(events) * 1e6 for name, seconds in spent.items()}


if __name__ == "__main__":
    main()
