"""The enrich worker: filed versions in, ``ArticleEnriched`` out, once per filed event."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from schemas.codec import decode_event
from schemas.events import CONTENT_EVENTS, AnyEvent, ArticleEnriched, ArticlePublished
from schemas.streams import Group, Stream, stream_key
from services.enrich.core import Enricher, Enrichment
from services.enrich.text import html_to_text, lead
from services.enrich.vocab_store import VocabProjection
from services.wire.eventlog import EventLog, as_streams, parse_id
from services.wire.worker import Call, NoReads

log = structlog.get_logger()
CATCH_UP_COUNT = 1000
# With no batch for IDLE_S, an enrich process indexes what was published meanwhile (IDLE_COUNT entries
# a partition a read, some 15 ms of indexing, so that a batch arriving then waits little), reading
# again at once while reads come back full, and less often, up to every IDLE_MAX_S, while none find
# anything: otherwise the first story after a burst would wait for the whole burst to be indexed.
IDLE_S = 0.05
IDLE_MAX_S = 1.0
IDLE_COUNT = 100
LEADS_KEPT = 2_000  # leads remembered for articles enriched but not yet seen published

EV_ENRICHED = "article.enriched"
EV_ARCHIVE_CAUGHT_UP = "archive.caught_up"
EV_ARCHIVE_IDLE_READ_FAILED = "archive.idle_read_failed"
EV_VOCAB_CAUGHT_UP = "vocab.caught_up"
EV_VOCAB_EVENT_IGNORED = "vocab.event_ignored"


class ArchiveProjection:
    """Keeps the enricher's related-links index in step with the published streams.

    The index is derived state: every enrich process rebuilds it from the log at start-up and
    reads what was published since before each batch (and while no batch comes:
    ``EnrichHandler.in_background``), so several workers agree on the archive.
    """

    def __init__(self, redis: Redis, enricher: Enricher, partitions: int) -> None:
        self.redis = redis
        self.enricher = enricher
        self.positions = {stream_key(Stream.PUBLISHED, p): "0-0" for p in range(partitions)}
        self.applied = 0
        # body HTML -> its lead, as this process worked it out when it enriched the article: the published
        # item carries the same body, so indexing it need not turn the HTML into text a second time
        self.leads: dict[str, str] = {}

    def remember_lead(self, body_html: str, article_lead: str) -> None:
        self.leads[body_html] = article_lead
        while len(self.leads) > LEADS_KEPT:
            del self.leads[next(iter(self.leads))]

    async def catch_up(self) -> int:
        """Apply every published item not yet indexed; returns how many were applied."""
        applied = 0
        while True:
            done, full = self.apply_read(await self.read())
            applied += done
            if not full:
                return applied

    async def read(self, count: int = CATCH_UP_COUNT) -> list[Any]:
        """The next items of every partition, in one round trip (for ``apply_read``)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            self.read_next(pipe, count)
            replies: list[Any] = await pipe.execute()
        return replies

    def read_next(self, pipe: Pipeline, count: int = CATCH_UP_COUNT) -> None:
        """Queue the reads of the next items on ``pipe``: one XREAD per partition's stream, as each
        may live on a node of its own in a cluster."""
        for name, position in self.positions.items():
            pipe.xread({name: position}, count=count)

    def apply_read(self, replies: list[Any], count: int = CATCH_UP_COUNT) -> tuple[int, bool]:
        """Index what ``read_next`` read (with ``count``): how many were applied, and whether a read came
        back full (there may be more; a short read is the end of what there was, no empty read confirms
        it). Entries at or before a stream's position are skipped: two reads may overlap (a batch's and
        the idle one), and whichever is applied second adds only what the first did not have. A read's
        entries come in id order, so only its first ones can be such."""
        applied = 0
        full = False
        for reply in replies:
            for name, entries in as_streams(reply):
                full = full or len(entries) >= count
                done = parse_id(self.positions[name])
                new = 0
                while new < len(entries) and parse_id(entries[new][0]) <= done:
                    new += 1
                for entry_id, fields in entries[new:]:
                    self.positions[name] = entry_id
                    event = decode_event(fields)
                    if isinstance(event, ArticlePublished):
                        self._apply(event)
                        applied += 1
                        self.applied += 1
        return applied, full

    def _apply(self, event: ArticlePublished) -> None:
        item = event.item
        if item.pub_status != "usable":  # killed ("canceled") or withheld: never linked again
            self.enricher.index.remove(item.uri)
            return
        headline = item.headlines[0].value if item.headlines else ""
        known = self.leads.pop(item.bodies[0].value, None) if item.bodies else None
        article_lead = known if known is not None else lead(html_to_text(item.bodies[0].value) if item.bodies else "")
        tag_ids = [n.literal for n in (*item.people, *item.organisations, *item.places) if n.literal]
        published_at = datetime.fromisoformat(item.version_created) if item.version_created else event.occurred_at
        self.enricher.index_article(item.uri, headline, article_lead, tag_ids, published_at)


class EnrichHandler(NoReads):
    group = Group.ENRICH
    input = Stream.FILED
    defer_idle_acks = True  # kills and embargo changes need no enrichment: acks only

    def __init__(self, eventlog: EventLog, enricher: Enricher) -> None:
        self.eventlog = eventlog
        self.enricher = enricher
        self.archive = ArchiveProjection(eventlog.redis, enricher, eventlog.settings.partitions)
        self.vocab = VocabProjection(eventlog.redis, enricher.vocabulary)
        # event id -> what the batch's enrichment found (or the exception it raised), and when it ran
        self._prepared: dict[str, Enrichment | Exception] = {}
        self._prepared_at = datetime.now(UTC)
        self.batches = 0  # batches begun, for the idle indexing to tell whether one began meanwhile
        self._batch_began = time.monotonic()

    async def in_background(self) -> None:
        """Index what is published while no batch comes (see ``IDLE_S``). A batch that begins while
        an idle read is out reads the same entries itself, so that read is dropped rather than
        indexed while the batch waits for its own."""
        wait = IDLE_S
        while True:
            await asyncio.sleep(wait)
            idle = time.monotonic() - self._batch_began
            if idle < IDLE_S:
                wait = IDLE_S - idle
                continue
            began = self.batches
            try:
                replies = await self.archive.read(IDLE_COUNT)
            except Exception as exc:  # Redis away: the next batch's own read catches up when it is back
                log.debug(EV_ARCHIVE_IDLE_READ_FAILED, error=str(exc))
                wait = IDLE_MAX_S
                continue
            if self.batches != began:
                wait = IDLE_S
                continue
            applied, full = self.archive.apply_read(replies, IDLE_COUNT)
            wait = 0 if full else IDLE_S if applied else min(2 * max(wait, IDLE_S), IDLE_MAX_S)

    async def before_batch(self, partition: int) -> None:
        self.batches += 1
        self._batch_began = time.monotonic()
        # One round trip for both projections' reads (more only when a read came back full).
        async with self.eventlog.redis.pipeline(transaction=False) as pipe:
            self.vocab.read_next(pipe)
            self.archive.read_next(pipe)
            replies = await pipe.execute()
        changes = await self.vocab.apply_read(replies[0])
        if changes:
            log.info(EV_VOCAB_CAUGHT_UP, applied=changes, revision=self.enricher.vocabulary.revision)
        for entry_id, problem in self.vocab.problems:
            log.warning(EV_VOCAB_EVENT_IGNORED, entry=entry_id, problem=problem)
        self.vocab.problems.clear()
        applied, full = self.archive.apply_read(replies[1:])
        if full:
            applied += await self.archive.catch_up()
        if applied:
            log.debug(EV_ARCHIVE_CAUGHT_UP, applied=applied, total=self.archive.applied)

    async def prefetch(self, events: Sequence[tuple[str, AnyEvent]], partition: int) -> None:
        """Enrich the batch's versions together, step by step (``Enricher.enrich_many``): each ``handle``
        then takes its own result, or raises its own error."""
        self._prepared.clear()
        content = [event for _, event in events if isinstance(event, CONTENT_EVENTS)]
        if content:
            self._prepared_at = datetime.now(UTC)
            found = self.enricher.enrich_many(content, self._prepared_at)
            self._prepared = {event.event_id: result for event, result in zip(content, found, strict=True)}

    async def handle(self, event: AnyEvent, entry_id: str, partition: int) -> Call | None:
        if not isinstance(event, CONTENT_EVENTS):  # kills and embargo changes need no enrichment
            return None
        found = self._prepared.pop(event.event_id, None)
        if found is None:
            now = datetime.now(UTC)
            enrichment = self.enricher.enrich(event, now)
        elif isinstance(found, Exception):
            raise found
        else:
            now, enrichment = self._prepared_at, found
        self.archive.remember_lead(event.body_html, enrichment.lead)
        enriched = ArticleEnriched(
            event_id=str(uuid.uuid4()), article_id=event.article_id, version=event.version, occurred_at=now,
            correlation_id=event.correlation_id, source_event_id=event.event_id, source_entry_id=entry_id,
            tags=enrichment.tags, subjects=enrichment.subjects, related=enrichment.related,
        )
        log.info(EV_ENRICHED, tags=[t.name for t in enrichment.tags],
                 subjects=[s.code for s in enrichment.subjects], related=len(enrichment.related),
                 suggestions=enrichment.suggestions, vocabulary=self.enricher.vocabulary.revision)
        return self.eventlog.append_once_args(
            Group.ENRICH, partition, source_event_id=event.event_id, input_entry_id=entry_id,
            output=enriched, out_stream=Stream.ENRICHED,
        )
