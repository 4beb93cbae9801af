"""``newswire replay``: rebuild projections from the log, compare them with the live ones, switch over.

What is rebuilt
    - per partition: ingest's article state ``nw:{p}:article:<id>`` (``version``, ``status``,
      ``embargo`` ms, 0 = none) from the filed stream, and each article's history
      ``nw:{p}:history:<id>`` ("<stream key> <entry id>" for every entry of the filed and the
      published stream of that article, merged in entry-id order);
    - the registry: ``nw:{registry}:credentials``, ``nw:{registry}:names`` and
      ``nw:{registry}:partners`` from ``nw:{registry}:events``.

    - per partition, publish's projection of each article (services/publish/articles.py), as far as
      the log determines it: in ``nw:{p}:item:<id>`` ``published_version`` (the version of the
      last ArticlePublished entry of the article on the published stream), ``killed`` (the version
      of its ArticleKilled) and ``embargo_version``/``embargo_ms`` (its last EmbargoChanged before
      any kill, as ``_REEMBARGO`` sets them; an ``item`` field that older code kept there is not
      compared, and a switch drops it); in ``nw:{p}:versions:<id>`` every delivered version, as
      ``@<entry id>`` of its entry on the published stream (content versions, kills, released
      re-embargoed versions), and every other content version with an ArticleEnriched event on the
      enriched stream (``build_item`` of the filed content and the first enriched event of that version,
      ``first_created`` from the article's first filed event: what ``_PUBLISH`` keeps when it holds
      the version or finds it stale or killed).

What is not
    - Held state: ``pending_version``/``pending_fields`` (and a ``pending_item`` older code kept),
      the ``embargoed`` zset, and the versions of kills and embargo changes that were never
      delivered (their canceled or re-held item is built from whatever was held at the time).
      Whether a version was held, and what was held when a kill or an embargo change was handled,
      depends on the wall clock when ``_PUBLISH`` ran and on the interleaving of the publish and
      lifecycle consumer groups, neither of which is on the log. These are neither compared nor
      touched by a switch (the switch merges the item and versions hashes field by field and keeps
      them; ``nw:{p}:rebuild:lifecycle:<id>`` records which versions are kills and embargo changes).
    - Delivery bookkeeping (done/errors hashes, partners' ``sent`` sets, webhook outboxes): it
      records decisions taken at delivery time. The enrich archive/related index and the vocabulary
      projection are not rebuilt here either.
    - Publish's projection is written by consumers, after the log: a lagging publish or lifecycle
      worker shows as differences (and a switch installs what they are about to write).

How
    The pure folds below (no I/O) turn entries into projection changes. The adapter reads the
    streams in batches (``XRANGE``, exclusive start), merges a partition's filed, published and
    enriched streams by entry id, and writes each batch's changes into *fresh* keys (``nw:{p}:rebuild:...``,
    ``nw:{registry}:rebuild:...``) in one ``MULTI/EXEC`` together with the last applied position of
    each stream (``nw:{p}:rebuild:position``, ``nw:{registry}:rebuild:position``). A crash mid-way
    therefore loses at most the batch in flight, and the next run resumes after the recorded
    position without applying any entry twice (``--fresh`` discards an earlier rebuild instead).

Comparison
    Every rebuilt key is compared with its live key; live keys with no counterpart in the rebuild
    are reported too. Two history entries written in the same millisecond on different streams have
    no recoverable order on the log, so histories that differ only by such a swap count as equal.
    If a stream moved while comparing, the rebuild catches up and compares again.

Switch (``switch=True``)
    Per hash slot (one partition, or the registry) one ``MULTI/EXEC`` renames every rebuilt key over
    its live key and deletes live keys the log does not produce, so the reported differences are
    repaired (publish's item and versions hashes are merged field by field instead, keeping the held
    state). Writers need not be stopped: every live projection write happens in the same atomic
    step as an ``XADD`` to the stream it derives from or, for publish's scripts, an ``HSET`` of their
    group's done hash, so the switch ``WATCH``es the slot's streams and done hashes and first checks
    that the streams' last ids are still the positions the rebuild reached. If anything
    was appended in between, ``EXEC`` is refused, the rebuild catches up, compares again and retries
    (a few times; then that slot is reported as not switched). The switch is atomic per slot, not
    across slots.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import WatchError

from schemas.codec import decode_event, encode_json
from schemas.events import (
    CONTENT_EVENTS,
    AnyEvent,
    ArticleContent,
    ArticleEnriched,
    ArticleFiled,
    ArticleKilled,
    ArticlePublished,
    EmbargoChanged,
)
from schemas.partners import AnyPartnerEvent, PartnerChanged, PartnerRegistered, PartnerRemoved
from schemas.streams import PREFIX, Group, Stream, partition_key, registry_key, stream_key
from services.publish.core import build_item
from services.wire.credentials import CredentialIssued, CredentialRevoked
from services.wire.eventlog import as_entries, as_text, done_key, read_entries
from services.wire.settings import Settings
from services.wire.versions import version_ref

BATCH = 2000  # entries per XRANGE and per written batch
USABLE, CANCELED = "usable", "canceled"
ARTICLE, HISTORY = "article", "history"
ITEM, VERSIONS = "item", "versions"  # publish's per-article projection (services/publish/articles.py)
LIFECYCLE = "lifecycle"  # rebuild-only: each article's kill and embargo-change versions (a set)
ITEM_DERIVED = ("published_version", "killed", "embargo_version", "embargo_ms")
ITEM_HELD = ("pending_version", "pending_item", "pending_fields")  # not derivable: kept, never compared
REGISTRY_HASHES = ("credentials", "names", "partners")
SWITCH_ATTEMPTS = 5
SAMPLE = 50  # differences kept in the report (all are counted)

Fields = Mapping[bytes, bytes]
Entry = tuple[str, Fields]  # entry id, fields


# ---------------------------------------------------------------------------------------------
# Pure folds


def embargo_ms(moment: datetime | None) -> int:
    """The embargo as ingest stores it: ms since the epoch, 0 for none."""
    return int(moment.timestamp() * 1000) if moment else 0


def article_changes(event: AnyEvent) -> dict[str, str]:
    """The fields of ``nw:{p}:article:<id>`` that ``event`` sets (absolute values: idempotent).

    Filed: version 1, usable, its embargo. Updated/corrected: the version and the embargo they carry.
    Killed: the version and ``canceled`` (the embargo stays). Embargo changed: the version and the new
    embargo (0 when lifted). Enrichment and publication do not touch ingest's state.
    """
    if isinstance(event, ArticleFiled):
        return {"version": str(event.version), "status": USABLE, "embargo": str(embargo_ms(event.embargoed_until))}
    if isinstance(event, CONTENT_EVENTS):
        return {"version": str(event.version), "embargo": str(embargo_ms(event.embargoed_until))}
    if isinstance(event, ArticleKilled):
        return {"version": str(event.version), "status": CANCELED}
    if isinstance(event, EmbargoChanged):
        return {"version": str(event.version), "embargo": str(embargo_ms(event.embargoed_until))}
    return {}


def fold_articles(events: Iterable[AnyEvent], states: dict[str, dict[str, str]] | None = None) -> dict[str, dict[str, str]]:
    """Each article's state after ``events`` (in log order), starting from ``states``."""
    out = states if states is not None else {}
    for event in events:
        changes = article_changes(event)
        if changes:
            out.setdefault(event.article_id, {}).update(changes)
    return out


def entry_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def merge_by_id(*streams: Iterable[tuple[str, str, Fields]]) -> list[tuple[str, str, Fields]]:
    """(stream key, entry id, fields) of several streams, merged in entry-id order."""
    merged = [row for rows in streams for row in rows]
    merged.sort(key=lambda row: entry_order(row[1]))  # stable: ties keep the streams' order
    return merged


def _article_of(fields: Fields) -> str | None:
    raw = fields.get(b"article")
    return as_text(raw) if raw else None


class PartitionChanges(msgspec.Struct):
    """What a run of merged entries does to a partition's projections."""

    articles: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)  # id -> fields to set
    history: dict[str, list[str]] = msgspec.field(default_factory=dict)  # id -> refs to append
    positions: dict[str, str] = msgspec.field(default_factory=dict)  # stream key -> last entry id
    events: int = 0


def fold_partition(entries: Iterable[tuple[str, str, Fields]], filed: str, *,
                   no_history: str | None = None) -> PartitionChanges:
    """Fold merged (stream key, entry id, fields) entries: article state from the ``filed`` stream,
    history refs from every stream but ``no_history`` (the enriched stream), and the last entry id
    seen on each stream."""
    out = PartitionChanges()
    for stream, entry_id, fields in entries:
        out.events += 1
        out.positions[stream] = entry_id
        article = _article_of(fields)
        if article is None or stream == no_history:
            continue
        out.history.setdefault(article, []).append(f"{stream} {entry_id}")
        if stream == filed:
            try:
                event = decode_event(fields)
            except (msgspec.ValidationError, msgspec.DecodeError):
                event = None  # ingest never appends one; a reader skips what it cannot read
            if event is not None:
                changes = article_changes(event)
                if changes:
                    out.articles.setdefault(event.article_id, {}).update(changes)
    return out


def _decoded(fields: Fields) -> AnyEvent | None:
    try:
        return decode_event(fields)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None  # no writer appends one; a reader skips what it cannot read


class PublishChanges(msgspec.Struct):
    """What a run of merged entries does to publish's per-article projection (absolute values).

    ``versions`` are set (``HSET``); ``versions_nx`` only where nothing is set yet (``HSETNX``): a
    version delivered on the published stream is kept as a reference to its entry there, whatever
    else the log says of it; any other version with an enriched event on the log as the item its
    first ``_PUBLISH`` built (``_PUBLISH`` sets it only where nothing is set; and an enriched entry
    can sort after the published entry of its version when both fall in one millisecond, even in a
    later batch: hence ``HSETNX``).
    """

    items: dict[str, dict[str, bytes]] = msgspec.field(default_factory=dict)  # id -> item hash fields
    versions: dict[str, dict[str, bytes]] = msgspec.field(default_factory=dict)  # id -> version -> entry ref
    versions_nx: dict[str, dict[str, bytes]] = msgspec.field(default_factory=dict)  # id -> version -> item JSON
    lifecycle: dict[str, set[str]] = msgspec.field(default_factory=dict)  # id -> kill/embargo-change versions
    killed: set[str] = msgspec.field(default_factory=set)  # articles killed by this run


def fold_publish(entries: Iterable[tuple[str, str, Fields]], *, filed: str, published: str, enriched: str,
                 contents: Mapping[str, AnyEvent] | None = None, first_filed: Mapping[str, datetime] | None = None,
                 killed: Iterable[str] = ()) -> PublishChanges:
    """Publish's projection of each article, as far as the log determines it (see the module docstring).

    ``contents`` are filed events (by entry id) that enriched entries of this run point at but that
    precede the run; ``first_filed`` the time of each article's first filed event if it precedes the
    run; ``killed`` the articles killed before the run.
    """
    out = PublishChanges()
    seen: dict[str, AnyEvent] = dict(contents or {})
    first: dict[str, datetime] = dict(first_filed or {})
    dead = set(killed)
    rows = [(stream, entry_id, fields, _decoded(fields) if stream == filed else None)
            for stream, entry_id, fields in entries if _article_of(fields) is not None]
    # Entry ids order entries within a stream, not across streams: an enriched entry can carry a
    # smaller id than the filed entry it derives from when both fall in one millisecond (each
    # stream numbers its own entries from -0). So the run's filed contents are known up front.
    for _stream, entry_id, _fields, event in rows:
        if event is not None:
            first.setdefault(event.article_id, event.occurred_at)
            if isinstance(event, CONTENT_EVENTS):
                seen[entry_id] = event
    for stream, entry_id, fields, event in rows:
        if stream == filed:
            if event is None:
                continue
            if isinstance(event, ArticleKilled):  # _KILL: always marks the article
                out.items.setdefault(event.article_id, {})["killed"] = str(event.version).encode()
                out.lifecycle.setdefault(event.article_id, set()).add(str(event.version))
                dead.add(event.article_id)
                out.killed.add(event.article_id)
            elif isinstance(event, EmbargoChanged):  # _REEMBARGO: ignored once killed
                out.lifecycle.setdefault(event.article_id, set()).add(str(event.version))
                if event.article_id not in dead:
                    out.items.setdefault(event.article_id, {}).update({
                        "embargo_version": str(event.version).encode(),
                        "embargo_ms": str(embargo_ms(event.embargoed_until)).encode()})
        elif stream == enriched:
            event = _decoded(fields)
            if not isinstance(event, ArticleEnriched):
                continue
            content = seen.get(event.source_entry_id)
            if not isinstance(content, ArticleContent) or content.event_id != event.source_event_id:
                continue  # PublishHandler refuses it (MissingSource): nothing is stored
            created = content.occurred_at if content.version == 1 else first.get(event.article_id)
            version = str(event.version)
            kept = out.versions_nx.setdefault(event.article_id, {})
            if version not in out.versions.get(event.article_id, {}) and version not in kept:
                # not delivered (yet): _PUBLISH keeps the item the version's first enrichment built
                kept[version] = encode_json(build_item(content, event, first_created=created))
        elif stream == published:
            event = _decoded(fields)
            if not isinstance(event, ArticlePublished):
                continue
            version = str(event.version)
            out.items.setdefault(event.article_id, {})["published_version"] = version.encode()
            out.versions.setdefault(event.article_id, {})[version] = version_ref(entry_id)
            out.versions_nx.get(event.article_id, {}).pop(version, None)
    return out


def history_of(filed: Iterable[Entry], published: Iterable[Entry], *, partition: int = 0) -> dict[str, list[str]]:
    """Each article's history: refs of its filed and published entries, merged in entry-id order."""
    fkey, pkey = stream_key(Stream.FILED, partition), stream_key(Stream.PUBLISHED, partition)
    merged = merge_by_id([(fkey, i, f) for i, f in filed], [(pkey, i, f) for i, f in published])
    return fold_partition(merged, fkey).history


def same_history(live: list[str], rebuilt: list[str]) -> bool:
    """Equal, or equal but for the order of refs written in the same millisecond."""
    if live == rebuilt:
        return True

    def ms(ref: str) -> str:
        return ref.rpartition(" ")[2].partition("-")[0]

    return [ms(r) for r in live] == [ms(r) for r in rebuilt] and Counter(live) == Counter(rebuilt)


class RegistryState(msgspec.Struct):
    """The registry projections: each hash as field -> value."""

    credentials: dict[str, bytes] = msgspec.field(default_factory=dict)  # key hash -> Credential JSON
    names: dict[str, bytes] = msgspec.field(default_factory=dict)  # "<role>:<name>" -> key hash
    partners: dict[str, bytes] = msgspec.field(default_factory=dict)  # name -> Partner JSON

    def hash(self, name: str) -> dict[str, bytes]:
        table: dict[str, bytes] = getattr(self, name)
        return table


_json = msgspec.json.Encoder()
_issued = msgspec.json.Decoder(CredentialIssued)
_revoked = msgspec.json.Decoder(CredentialRevoked)
_partner_event = msgspec.json.Decoder(AnyPartnerEvent)


def apply_registry(state: RegistryState, fields: Fields) -> set[tuple[str, str]]:
    """Apply one registry entry to ``state``; returns the (hash, field) pairs it touched.

    ``credential.issued.v1`` replaces any earlier credential of the same role and name;
    ``credential.revoked.v1`` removes the credential and its name; ``partner.registered.v1`` and
    ``partner.changed.v1`` store the partner's whole new state; ``partner.removed.v1`` drops it.
    Unknown types are skipped.
    """
    kind = as_text(fields.get(b"type", b""))
    data = fields.get(b"data", b"")
    touched: set[tuple[str, str]] = set()
    if kind == "credential.issued.v1":
        credential = _issued.decode(data).credential
        name = f"{credential.role.value}:{credential.name}"
        previous = state.names.get(name)
        if previous is not None:
            state.credentials.pop(as_text(previous), None)
            touched.add(("credentials", as_text(previous)))
        state.credentials[credential.key_hash] = _json.encode(credential)
        state.names[name] = credential.key_hash.encode()
        touched |= {("credentials", credential.key_hash), ("names", name)}
    elif kind == "credential.revoked.v1":
        revoked = _revoked.decode(data)
        name = f"{revoked.role.value}:{revoked.name}"
        state.credentials.pop(revoked.key_hash, None)
        state.names.pop(name, None)
        touched |= {("credentials", revoked.key_hash), ("names", name)}
    elif kind.startswith("partner."):
        try:
            event = _partner_event.decode(data)
        except msgspec.ValidationError:
            return touched  # a partner event type this reader does not know
        if isinstance(event, PartnerRegistered | PartnerChanged):
            state.partners[event.partner.name] = _json.encode(event.partner)
            touched.add(("partners", event.partner.name))
        elif isinstance(event, PartnerRemoved):
            state.partners.pop(event.name, None)
            touched.add(("partners", event.name))
    return touched


def fold_registry(entries: Iterable[Fields], state: RegistryState | None = None) -> RegistryState:
    out = state if state is not None else RegistryState()
    for fields in entries:
        apply_registry(out, fields)
    return out


# ---------------------------------------------------------------------------------------------
# The Redis adapter


def rebuild_key(live: str) -> str:
    """Where the rebuild of ``live`` is written: ``nw:{tag}:x`` -> ``nw:{tag}:rebuild:x`` (same slot)."""
    prefix, tag, rest = live.split(":", 2)
    return f"{prefix}:{tag}:rebuild:{rest}"


def position_key(tag: str) -> str:
    """The last applied entry id of each stream, written with every rebuilt batch."""
    return f"{PREFIX}:{tag}:rebuild:position"


def replayed_key(tag: str) -> str:
    """After a switch: the positions the live projections were rebuilt up to (a record)."""
    return f"{PREFIX}:{tag}:replay:position"


@dataclass
class Difference:
    key: str  # the live key
    kind: str  # "missing" (not live), "extra" (live only), "differs"
    live: str = ""
    rebuilt: str = ""

    def __str__(self) -> str:
        if self.kind == "differs":
            return f"{self.key}: live {self.live} != rebuilt {self.rebuilt}"
        if self.kind == "missing":
            return f"{self.key}: missing from the live projection (rebuilt {self.rebuilt})"
        return f"{self.key}: live only, the log does not produce it (live {self.live})"


@dataclass
class ReplayReport:
    total: int = 0  # entries on the log when the replay started
    events: int = 0  # entries applied by this run (a resumed run skips what was applied before)
    seconds: float = 0.0
    keys: int = 0  # rebuilt keys compared
    difference_count: int = 0
    differences: list[Difference] = field(default_factory=list)  # the first SAMPLE
    switched: list[str] = field(default_factory=list)  # slots switched over
    refused: list[str] = field(default_factory=list)  # slots whose switch kept being overtaken

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def differ(self, difference: Difference) -> None:
        self.difference_count += 1
        if len(self.differences) < SAMPLE:
            self.differences.append(difference)


def _bytes_map(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in raw.items()}


async def _last_id(redis: Redis, key: str) -> str:
    rows = as_entries(await redis.xrevrange(key, count=1))
    return rows[0][0] if rows else "0-0"


class _Slot:
    """One hash slot to rebuild: a partition or the registry."""

    tag: str
    streams: list[str]
    watched: list[str]  # the streams, and whatever else every writer of the slot's projections touches

    async def rebuild(self, redis: Redis, progress: Callable[[int], None], batch: int) -> int:
        raise NotImplementedError

    async def compare(self, redis: Redis, report: ReplayReport | None) -> tuple[list[tuple[str, str]], list[str]]:
        """Report differences; returns (rebuilt key, live key) pairs and live keys to delete."""
        raise NotImplementedError

    def install(self, tx: Any, renames: list[tuple[str, str]], deletes: list[str]) -> None:
        for source, target in renames:
            tx.rename(source, target)
        if deletes:
            tx.delete(*deletes)

    async def leftovers(self, redis: Redis) -> list[str]:
        return []

    async def positions(self, redis: Redis) -> dict[str, str]:
        raw = await redis.hgetall(position_key(self.tag))  # type: ignore[misc]
        found = _bytes_map(raw)
        return {s: found.get(s, "0-0") for s in self.streams}

    async def tails(self, redis: Redis) -> dict[str, str]:
        return {s: await _last_id(redis, s) for s in self.streams}

    async def discard(self, redis: Redis) -> None:
        async for key in redis.scan_iter(match=f"{PREFIX}:{self.tag}:rebuild:*", count=10_000):
            await redis.unlink(key)


class _Partition(_Slot):
    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.tag = f"{{p{partition}}}"
        self.filed = stream_key(Stream.FILED, partition)
        self.published = stream_key(Stream.PUBLISHED, partition)
        self.enriched = stream_key(Stream.ENRICHED, partition)
        self.streams = [self.filed, self.published, self.enriched]
        # _PUBLISH, _KILL and _REEMBARGO record every call in their group's done hash, in the same
        # script as their projection writes (_RELEASE appends to the published stream).
        self.watched = [*self.streams, done_key(Group.PUBLISH, partition), done_key(Group.LIFECYCLE, partition)]

    def _key(self, kind: str, article: str) -> str:
        return partition_key(f"{kind}:{article}", self.partition)

    async def rebuild(self, redis: Redis, progress: Callable[[int], None], batch: int) -> int:
        after = await self.positions(redis)
        buffers: dict[str, deque[tuple[str, str, Fields]]] = {s: deque() for s in self.streams}
        fetched = dict(after)
        drained = dict.fromkeys(self.streams, False)

        async def fill(stream: str) -> None:
            rows = as_entries(await redis.xrange(stream, min=f"({fetched[stream]}", count=batch))
            for entry_id, fields in rows:
                buffers[stream].append((stream, entry_id, fields))
            if rows:
                fetched[stream] = rows[-1][0]
            drained[stream] = len(rows) < batch

        applied = 0
        run: list[tuple[str, str, Fields]] = []
        while True:
            for stream in self.streams:
                if not buffers[stream] and not drained[stream]:
                    await fill(stream)
            live = [s for s in self.streams if buffers[s]]
            if not live:
                break
            # Take entries in id order while every stream that may have more has something buffered.
            while all(buffers[s] or drained[s] for s in self.streams) and any(buffers[s] for s in self.streams):
                stream = min((s for s in self.streams if buffers[s]), key=lambda s: entry_order(buffers[s][0][1]))
                run.append(buffers[stream].popleft())
                if len(run) >= batch:
                    applied += await self._write(redis, run)
                    progress(len(run))
                    run = []
        if run:
            applied += await self._write(redis, run)
            progress(len(run))
        return applied

    async def _lookups(self, redis: Redis, run: list[tuple[str, str, Fields]]
                       ) -> tuple[dict[str, AnyEvent], dict[str, datetime], set[str]]:
        """What the publish fold of ``run`` needs from before it: the filed events its enriched
        entries point at, the time of their articles' first filed event, and which articles with an
        embargo change in the run were killed before it (all from the rebuild, i.e. the log)."""
        in_run = {entry_id for stream, entry_id, _ in run if stream == self.filed}
        sources: set[str] = set()
        later: set[str] = set()  # articles of enriched versions > 1
        changed: set[str] = set()
        for stream, _entry_id, fields in run:
            if stream == self.enriched:
                event = _decoded(fields)
                if isinstance(event, ArticleEnriched):
                    if event.source_entry_id not in in_run:
                        sources.add(event.source_entry_id)
                    if event.version != 1:
                        later.add(event.article_id)
            elif stream == self.filed and as_text(fields.get(b"type", b"")).startswith("article.embargo"):
                article = _article_of(fields)
                if article:
                    changed.add(article)
        articles = sorted(later)
        async with redis.pipeline(transaction=False) as pipe:
            for article in articles:
                pipe.lindex(rebuild_key(self._key(HISTORY, article)), 0)
            for article in sorted(changed):
                pipe.hexists(rebuild_key(self._key(ITEM, article)), "killed")
            found = await pipe.execute()
        firsts = dict(zip(articles, found[:len(articles)], strict=True))
        killed = {a for a, dead in zip(sorted(changed), found[len(articles):], strict=True) if dead}
        refs = {a: as_text(ref).split(" ", 1) for a, ref in firsts.items() if ref}
        wanted = sorted({(self.filed, e) for e in sources} | {(s, e) for s, e in refs.values()})
        fetched: dict[tuple[str, str], AnyEvent] = {}
        for key, fields in (await read_entries(redis, wanted)).items():
            event = _decoded(fields)
            if event is not None:
                fetched[key] = event
        contents = {e: fetched[(self.filed, e)] for e in sources if (self.filed, e) in fetched}
        first = {a: fetched[(s, e)].occurred_at for a, (s, e) in refs.items() if (s, e) in fetched}
        return contents, first, killed

    async def _write(self, redis: Redis, run: list[tuple[str, str, Fields]]) -> int:
        changes = fold_partition(run, self.filed, no_history=self.enriched)
        contents, first, killed = await self._lookups(redis, run)
        publish = fold_publish(run, filed=self.filed, published=self.published, enriched=self.enriched,
                               contents=contents, first_filed=first, killed=killed)
        async with redis.pipeline(transaction=True) as tx:
            for article, values in publish.items.items():
                tx.hset(rebuild_key(self._key(ITEM, article)), mapping=values)  # type: ignore[arg-type]
            for article, values in publish.versions_nx.items():
                for version, item in values.items():
                    tx.hsetnx(rebuild_key(self._key(VERSIONS, article)), version, item)
            for article, values in publish.versions.items():
                tx.hset(rebuild_key(self._key(VERSIONS, article)), mapping=values)  # type: ignore[arg-type]
            for article, lifecycle in publish.lifecycle.items():
                tx.sadd(rebuild_key(self._key(LIFECYCLE, article)), *sorted(lifecycle))
            for article, fields in changes.articles.items():
                tx.hset(rebuild_key(partition_key(f"{ARTICLE}:{article}", self.partition)),
                        mapping=fields)  # type: ignore[arg-type]
            for article, refs in changes.history.items():
                tx.rpush(rebuild_key(partition_key(f"{HISTORY}:{article}", self.partition)), *refs)
            tx.hset(position_key(self.tag), mapping=changes.positions)  # type: ignore[arg-type]
            await tx.execute()
        return changes.events

    async def compare(self, redis: Redis, report: ReplayReport | None) -> tuple[list[tuple[str, str]], list[str]]:
        live_prefix = f"{PREFIX}:{self.tag}:"
        rebuilt_prefix = f"{PREFIX}:{self.tag}:rebuild:"
        live: set[str] = set()
        rebuilt: set[str] = set()
        kinds = (f"{ARTICLE}:", f"{HISTORY}:", f"{ITEM}:", f"{VERSIONS}:")
        async for raw in redis.scan_iter(match=f"{PREFIX}:{self.tag}:*", count=10_000):
            key = as_text(raw)
            if key.startswith(rebuilt_prefix):
                rest = key[len(rebuilt_prefix):]
                if rest.startswith(kinds):
                    rebuilt.add(live_prefix + rest)
            elif key[len(live_prefix):].startswith(kinds):
                live.add(key)
        keys = sorted(live | rebuilt)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            async with redis.pipeline(transaction=False) as pipe:
                for key in chunk:
                    rest = key[len(live_prefix):]
                    for k in (key, rebuild_key(key)):
                        if rest.startswith(f"{HISTORY}:"):
                            pipe.lrange(k, 0, -1)
                        else:
                            pipe.hgetall(k)
                    # versions of kills and embargo changes: compared only if delivered
                    pipe.smembers(rebuild_key(live_prefix + LIFECYCLE + rest[len(VERSIONS):]))
                values = await pipe.execute()
            for i, key in enumerate(chunk):
                if report is None:
                    continue
                report.keys += key in rebuilt
                now, new, lifecycle = values[3 * i], values[3 * i + 1], values[3 * i + 2]
                rest = key[len(live_prefix):]
                if isinstance(now, dict):
                    a, b = _bytes_map(now), _bytes_map(new)
                    if rest.startswith(f"{ITEM}:"):
                        a = {k: v for k, v in a.items() if k in ITEM_DERIVED}
                    elif rest.startswith(f"{VERSIONS}:"):
                        held = {as_text(v) for v in lifecycle}
                        a = {k: v for k, v in a.items() if k in b or k not in held}
                    equal = a == b
                    shown = (_shown(a), _shown(b))
                else:
                    la, lb = [as_text(v) for v in now], [as_text(v) for v in new]
                    equal = same_history(la, lb)
                    shown = (f"{len(la)} refs {la[-3:]}" if la else "", f"{len(lb)} refs {lb[-3:]}" if lb else "")
                if equal:
                    continue
                kind = "extra" if key not in rebuilt else "missing" if key not in live else "differs"
                report.differ(Difference(key, kind, *shown))
        return [(rebuild_key(k), k) for k in sorted(rebuilt)], sorted(live - rebuilt)

    def install(self, tx: Any, renames: list[tuple[str, str]], deletes: list[str]) -> None:
        """Queue the switch: article states and histories are renamed over (or deleted); publish's
        item and versions hashes are merged field by field, keeping what the log does not determine
        (held versions, see the module docstring)."""
        live_prefix = f"{PREFIX}:{self.tag}:"
        plain: list[str] = []
        for source, target in renames:
            if _publish_kind(target[len(live_prefix):]):
                self._merge(tx, source, target)
            else:
                tx.rename(source, target)
        for key in deletes:
            if _publish_kind(key[len(live_prefix):]):
                self._merge(tx, rebuild_key(key), key)
            else:
                plain.append(key)
        if plain:
            tx.delete(*plain)

    def _merge(self, tx: Any, source: str, target: str) -> None:
        rest = target[len(f"{PREFIX}:{self.tag}:"):]
        if rest.startswith(f"{ITEM}:"):
            tx.eval(_MERGE, 2, target, source, *ITEM_HELD)
        else:
            lifecycle = rebuild_key(f"{PREFIX}:{self.tag}:{LIFECYCLE}{rest[len(VERSIONS):]}")
            tx.eval(_MERGE, 3, target, source, lifecycle)

    async def leftovers(self, redis: Redis) -> list[str]:
        """Rebuild-only keys to drop with a switch."""
        return [as_text(k) async for k in redis.scan_iter(match=f"{PREFIX}:{self.tag}:rebuild:{LIFECYCLE}:*",
                                                        count=10_000)]


def _publish_kind(rest: str) -> bool:
    return rest.startswith((f"{ITEM}:", f"{VERSIONS}:"))


def _shown(values: Mapping[str, str]) -> str:
    if not values:
        return ""
    return str({k: v if len(v) <= 80 else v[:77] + "..." for k, v in sorted(values.items())})


# KEYS: live hash, rebuilt hash, [rebuild-only set of live fields to keep]. ARGV: more fields to keep.
# The live hash ends up with the rebuilt fields, plus the kept fields it had; the rebuilt hash goes.
_MERGE = """
local keep = {}
for _, f in ipairs(ARGV) do keep[f] = true end
if KEYS[3] then for _, f in ipairs(redis.call('SMEMBERS', KEYS[3])) do keep[f] = true end end
local rebuilt = redis.call('HGETALL', KEYS[2])
local new = {}
for i = 1, #rebuilt, 2 do new[rebuilt[i]] = true end
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not keep[f] and not new[f] then redis.call('HDEL', KEYS[1], f) end
end
for i = 1, #rebuilt, 2 do redis.call('HSET', KEYS[1], rebuilt[i], rebuilt[i + 1]) end
redis.call('DEL', KEYS[2])
return 1
"""


class _Registry(_Slot):
    def __init__(self) -> None:
        self.tag = "{registry}"
        self.stream = registry_key("events")
        self.streams = [self.stream]
        self.watched = self.streams

    async def rebuild(self, redis: Redis, progress: Callable[[int], None], batch: int) -> int:
        after = (await self.positions(redis))[self.stream]
        state = RegistryState()
        for name in REGISTRY_HASHES:
            raw = await redis.hgetall(rebuild_key(registry_key(name)))  # type: ignore[misc]
            state.hash(name).update({as_text(k): v if isinstance(v, bytes) else v.encode() for k, v in raw.items()})
        applied = 0
        while True:
            rows = as_entries(await redis.xrange(self.stream, min=f"({after}", count=batch))
            if not rows:
                break
            touched: set[tuple[str, str]] = set()
            for _entry_id, fields in rows:
                touched |= apply_registry(state, fields)
            after = rows[-1][0]
            async with redis.pipeline(transaction=True) as tx:
                for name, key in sorted(touched):
                    target = rebuild_key(registry_key(name))
                    value = state.hash(name).get(key)
                    if value is None:
                        tx.hdel(target, key)
                    else:
                        tx.hset(target, key, value)
                tx.hset(position_key(self.tag), self.stream, after)
                await tx.execute()
            applied += len(rows)
            progress(len(rows))
            if len(rows) < batch:
                break
        return applied

    async def compare(self, redis: Redis, report: ReplayReport | None) -> tuple[list[tuple[str, str]], list[str]]:
        renames: list[tuple[str, str]] = []
        deletes: list[str] = []
        for name in REGISTRY_HASHES:
            live_key = registry_key(name)
            new_key = rebuild_key(live_key)
            live = _bytes_map(await redis.hgetall(live_key))  # type: ignore[misc]
            new = _bytes_map(await redis.hgetall(new_key))  # type: ignore[misc]
            if new:
                renames.append((new_key, live_key))
            elif live:
                deletes.append(live_key)
            if report is None:
                continue
            report.keys += 1
            for fld in sorted(set(live) | set(new)):
                if live.get(fld) == new.get(fld):
                    continue
                kind = "extra" if fld not in new else "missing" if fld not in live else "differs"
                report.differ(Difference(f"{live_key} {fld}", kind, live.get(fld, ""), new.get(fld, "")))
        return renames, deletes


async def _switch(redis: Redis, slot: _Slot, renames: list[tuple[str, str]], deletes: list[str]) -> bool:
    """Install the rebuild in one transaction, unless a stream of the slot moved since it was read."""
    positions = await slot.positions(redis)
    leftovers = await slot.leftovers(redis)
    async with redis.pipeline(transaction=True) as tx:
        await tx.watch(*slot.watched)
        for stream in slot.streams:
            if await _last_id(tx, stream) != positions[stream]:  # type: ignore[arg-type]
                await tx.unwatch()  # type: ignore[no-untyped-call]
                return False
        recorded = bool(await tx.exists(position_key(slot.tag)))
        tx.multi()  # type: ignore[no-untyped-call]
        slot.install(tx, renames, deletes)
        if leftovers:
            tx.delete(*leftovers)
        if recorded:
            tx.rename(position_key(slot.tag), replayed_key(slot.tag))
        try:
            await tx.execute()
        except WatchError:
            return False
    return True


async def replay(redis: Redis, settings: Settings, *, progress: Callable[[int, int], None], switch: bool,
                 fresh: bool = False, batch: int = BATCH) -> ReplayReport:
    """Rebuild every in-scope projection into fresh keys, compare with the live ones, and switch over
    if asked (see the module docstring). ``progress(done, total)`` is called after each batch."""
    slots: list[_Slot] = [*(_Partition(p) for p in range(settings.partitions)), _Registry()]
    report = ReplayReport()
    for slot in slots:
        if fresh:
            await slot.discard(redis)
        for stream in slot.streams:
            report.total += int(await redis.xlen(stream))
    started = time.perf_counter()
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        progress(done, max(report.total, done))

    for slot in slots:
        report.events += await slot.rebuild(redis, advance, batch)
    for slot in slots:
        for _attempt in range(SWITCH_ATTEMPTS):
            attempt = ReplayReport()
            renames, deletes = await slot.compare(redis, attempt)
            if await slot.tails(redis) != await slot.positions(redis):
                report.events += await slot.rebuild(redis, advance, batch)  # moved while comparing
                continue
            if switch and not await _switch(redis, slot, renames, deletes):
                report.events += await slot.rebuild(redis, advance, batch)
                continue
            report.keys += attempt.keys
            for difference in attempt.differences:
                report.differ(difference)
            report.difference_count += attempt.difference_count - len(attempt.differences)
            if switch:
                report.switched.append(slot.tag)
            break
        else:
            report.refused.append(slot.tag)
    report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------------------------------------
# The command


def cmd_replay(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """``newswire replay [--switch] [--fresh]``: exit 1 when the live projections differed (even if
    ``--switch`` repaired them) or a switch was refused."""
    from services.wire.eventlog import connect

    if settings is None:
        from services.wire.cli import _redis_settings

        settings = _redis_settings()
    assert settings is not None
    chosen = settings
    started = time.perf_counter()
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] < 0.5 and done < total:
            return
        last[0] = now
        rate = done / max(now - started, 1e-9)
        print(f"\rreplay: {done}/{total} entries, {rate:,.0f} events/s", end="", file=sys.stderr, flush=True)

    async def run() -> ReplayReport:
        redis = connect(chosen, max_connections=4)
        try:
            return await replay(redis, chosen, progress=show, switch=args.switch, fresh=args.fresh)
        finally:
            await redis.aclose()

    report = asyncio.run(run())
    print(file=sys.stderr)
    print(f"replayed {report.events} of {report.total} entries in {report.seconds:.1f}s "
          f"({report.rate:,.0f} events/s); compared {report.keys} projection keys")
    for difference in report.differences:
        print(f"  {difference}")
    if report.difference_count > len(report.differences):
        print(f"  ... and {report.difference_count - len(report.differences)} more")
    if report.difference_count:
        print(f"{report.difference_count} difference(s) between the live projections and the log"
              + ("; repaired by the switch" if report.switched and not report.refused else ""))
    else:
        print("the live projections match the log")
    if report.switched:
        print(f"switched over: {', '.join(report.switched)}")
    if report.refused:
        print(f"switch refused (the log kept moving): {', '.join(report.refused)}", file=sys.stderr)
    return 1 if report.difference_count or report.refused else 0
