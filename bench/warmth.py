"""What a story's enrichment costs back to back, and with pauses between stories, in one process.

    python -m bench.warmth [--stories 500] [--pause-ms 20] [--spin]

The same stories through the same enricher (``Enricher.enrich`` and indexing for related links),
first one after another, then with a pause after each, as at a moderate filing rate. Prints the CPU
time per story (``time.process_time``) of both: when a process sleeps between stories, other work
(or nothing) runs meanwhile and each story starts with cold caches, so it costs more CPU than the
same story does in a busy stream. The wire's benchmark shows the same in its CPU-per-story columns
at 50 and 200 stories/s against stories pushed at once. ``--spin`` fills the pauses with a busy loop
instead of sleeping, so the process keeps its core: if a story still costs more after a pause, it is
not the sleep itself (going idle, being descheduled) but what the pause did to the caches.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime

from bench.stories import story
from schemas.events import ArticleFiled
from services.enrich.core import new_enricher
from services.ingest.core import sanitise_html


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=500)
    parser.add_argument("--pause-ms", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--spin", action="store_true", help="busy-wait through the pauses instead of sleeping")
    args = parser.parse_args()
    enricher = new_enricher()
    now = datetime.now(UTC)
    events = []
    for n in range(400 + 2 * args.stories):
        s = story(n, args.seed)
        events.append(ArticleFiled(event_id=str(uuid.uuid4()), article_id=f"urn:newswire:article:bench-{n}", version=1,
                                   occurred_at=now, correlation_id="warmth", headline=str(s["headline"]),
                                   body_html=sanitise_html(str(s["body"]))))

    def enrich(event: ArticleFiled) -> None:
        found = enricher.enrich(event, now)
        enricher.index_article(event.article_id, event.headline, found.lead, [t.id for t in found.tags], now)

    for event in events[:400]:  # a warm archive and warm caches before either measurement
        enrich(event)
    busy, paused = events[400 : 400 + args.stories], events[400 + args.stories :]
    began = time.process_time()
    for event in busy:
        enrich(event)
    back_to_back = (time.process_time() - began) / len(busy) * 1e6
    began = time.process_time()
    spent = 0.0
    for event in paused:
        began = time.process_time()
        enrich(event)
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


if __name__ == "__main__":
    main()
