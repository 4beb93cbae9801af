"""What a full garbage collection costs the publish process with its live tail full, or the enrich
process with its related-links archive grown.

    python -m bench.gc_pause [--items 20000] [--distinct 300] [--repeat 5]
    python -m bench.gc_pause --archive 30000

The publish process keeps recent published items in memory for its SSE and feed partners (up to
twice ``keep``, 10,000, per partition). This fills one window with ``--items`` items decoded from
stream entries, as the tail decodes them (``--distinct`` generated stories, enriched by the wire's
own enricher, each decoded again for every entry), freezes what was there before, as a service
does once started, and times full collections (``gc.collect()``): best and median of ``--repeat``.
It prints the objects the collector tracks and the time of a full pass. Python starts full passes
by itself as tracked objects accumulate, and each one pauses the process (every story in flight
in it) for that long. ``--archive N`` instead enriches and indexes N generated stories (as the
enrich worker does with every story published) and times full collections of that process.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from bench.stories import filed_story
from bench.warmth import enrich_and_index
from schemas.codec import encode_event
from schemas.events import ArticleEnriched, ArticleFiled, ArticlePublished
from services.enrich.core import Enricher, Enrichment, new_enricher
from services.publish import core
from services.publish.live import _Window, to_published
from services.wire.loop import freeze_startup_objects


def enriched_stories(enricher: Enricher, count: int, seed: int, now: datetime) -> Iterator[tuple[ArticleFiled, Enrichment]]:
    """``count`` generated stories filed, enriched and indexed for related links, as the enrich worker does."""
    for n in range(count):
        filed = filed_story(n, seed, now, "gc")
        yield filed, enrich_and_index(enricher, filed, now)


def entries(distinct: int, seed: int) -> list[dict[bytes, bytes]]:
    """The stream fields of ``distinct`` published items made the wire's way (filed, enriched, built)."""
    now = datetime.now(UTC)
    out = []
    for filed, found in enriched_stories(new_enricher(), distinct, seed, now):
        enriched = ArticleEnriched(event_id=str(uuid.uuid4()), article_id=filed.article_id, version=1, occurred_at=now,
                                   correlation_id="gc", source_event_id=filed.event_id, source_entry_id="1-0",
                                   tags=found.tags, subjects=found.subjects, related=found.related)
        item = core.build_item(filed, enriched)
        published = ArticlePublished(event_id=str(uuid.uuid4()), article_id=filed.article_id, version=1,
                                     occurred_at=now, correlation_id="gc", source_event_id=filed.event_id, item=item)
        out.append({k.encode(): v for k, v in encode_event(published).items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--distinct", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--archive", type=int, default=0, help="time the enrich process with this many stories indexed")
    args = parser.parse_args()
    if args.archive:
        archive(args.archive, args.seed, args.repeat)
        return
    fields = entries(args.distinct, args.seed)
    freeze_startup_objects()
    empty = _timed(args.repeat)
    tracked_before = len(gc.get_objects())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    window = _Window("0-0")
    for n in range(args.items):
        published = to_published(0, (f"{1_000_000 + n}-0", fields[n % len(fields)]))
        assert published is not None
        window.append(published, keep=args.items)
    del published
    full = _timed(args.repeat)
    tracked = len(gc.get_objects()) - tracked_before
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(f"window of {len(window.items):,} items: {tracked:,} more objects tracked by the collector, "
          f"peak RSS {grown:,.0f} MB more")
    print(f"full collection: best {min(full):.2f} ms, median {statistics.median(full):.2f} ms "
          f"(with the window empty: best {min(empty):.2f} ms, median {statistics.median(empty):.2f} ms)")


def archive(stories: int, seed: int, repeat: int) -> None:
    enricher = new_enricher()
    now = datetime.now(UTC)
    freeze_startup_objects()
    tracked_before = len(gc.get_objects())
    for _ in enriched_stories(enricher, stories, seed, now):
        pass
    full = _timed(repeat)
    tracked = len(gc.get_objects()) - tracked_before
    print(f"enricher with {len(enricher.index):,} stories indexed: {tracked:,} more objects tracked by the collector")
    print(f"full collection: best {min(full):.2f} ms, median {statistics.median(full):.2f} ms")


def _timed(repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        began = time.perf_counter()
        gc.collect()
        out.append((time.perf_counter() - began) * 1000)
    return out


if __name__ == "__main__":
    main()
