"""The publish process: the worker that turns enriched versions into ninjs items, and the partner APIs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from litestar import Litestar, Request, Response, get
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Stream as StreamResponse
from redis.asyncio import Redis

from schemas.codec import decode_event, encode_json
from schemas.events import (
    CONTENT_EVENTS,
    AnyEvent,
    ArticleContent,
    ArticleEnriched,
    ArticleKilled,
    ArticlePublished,
    EmbargoChanged,
)
from schemas.ninjs import NinjsItem
from schemas.streams import Group, Stream, history_key, stream_key
from services.publish import core
from services.publish.admin import ADMINS, admin_routes
from services.publish.articles import ArticleProjection, EmbargoReleaser
from services.publish.live import Cursor, LiveTail
from services.publish.partners import PartnerDirectory, PartnerRegistry
from services.publish.serving import PartnerGone, SentLog, Serving, decode_cursor, encode_cursor
from services.publish.views import PartnerView
from services.publish.webhooks import WebhookService, WebhookSettings, check_webhook_url
from services.wire.credentials import Credential, CredentialDirectory, Role
from services.wire.eventlog import EventLog, as_entries, connect, read_entries
from services.wire.http import Problem, build_app, health_route, openapi, require
from services.wire.metrics import CONTENT_TYPE as METRICS_TYPE
from services.wire.metrics import prometheus_text
from services.wire.settings import Settings
from services.wire.status import wire_status
from services.wire.worker import Call, NoReads, StreamWorker

log = structlog.get_logger()
PARTNERS = frozenset({Role.PARTNER})
FEED_DEFAULT_SINCE_MS = 24 * 3600 * 1000


class MissingSource(RuntimeError):
    """An enriched event points at a filed entry the log does not have."""


def _published(source: AnyEvent, item: NinjsItem, source_event_id: str) -> ArticlePublished:
    return ArticlePublished(event_id=str(uuid.uuid4()), article_id=source.article_id, version=source.version,
                            occurred_at=datetime.now(UTC), correlation_id=source.correlation_id,
                            source_event_id=source_event_id, item=item)


class PublishHandler(NoReads):
    """Enriched version -> ninjs item, delivered (or held by its embargo) once per enriched event."""

    group = Group.PUBLISH
    defer_idle_acks = True
    input = Stream.ENRICHED

    def __init__(self, eventlog: EventLog, articles: ArticleProjection) -> None:
        self.eventlog = eventlog
        self.articles = articles
        self._sources: dict[str, dict[bytes, bytes]] = {}  # filed entry id -> fields, read for the current batch

    async def prefetch(self, events: Sequence[tuple[str, AnyEvent]], partition: int) -> None:
        """Read the filed entry of every enriched event in the batch in one round trip."""
        self._sources.clear()
        stream = stream_key(Stream.FILED, partition)
        found = await read_entries(self.eventlog.redis, [(stream, e.source_entry_id) for _, e in events
                                                         if isinstance(e, ArticleEnriched)])
        self._sources = {entry_id: fields for (_, entry_id), fields in found.items()}

    async def handle(self, event: AnyEvent, entry_id: str, partition: int) -> Call | None:
        if not isinstance(event, ArticleEnriched):
            return None
        content = await self._content(event.source_entry_id, event.source_event_id, partition)
        first = content.occurred_at if content.version == 1 else await self._first_filed(event.article_id, partition)
        item = core.build_item(content, event, first_created=first)
        release_ms = int(content.embargoed_until.timestamp() * 1000) if content.embargoed_until else 0
        log.info("article.built", version=event.version, tags=len(event.tags), related=len(event.related),
                 embargoed=bool(release_ms))
        return self.articles.publish_call(Group.PUBLISH, partition, source_event_id=event.event_id, entry_id=entry_id,
                                          published=_published(event, item, event.event_id), release_ms=release_ms)

    async def _content(self, entry_id: str, event_id: str, partition: int) -> ArticleContent:
        fields = self._sources.pop(entry_id, None)
        if fields is None:
            ref = (stream_key(Stream.FILED, partition), entry_id)
            fields = (await read_entries(self.eventlog.redis, [ref])).get(ref)
        content = decode_event(fields) if fields else None
        if not isinstance(content, CONTENT_EVENTS) or content.event_id != event_id:
            raise MissingSource(f"filed entry {entry_id} for event {event_id} not found")
        return content

    async def _first_filed(self, article_id: str, partition: int) -> datetime | None:
        first: bytes | None = await self.eventlog.redis.lindex(history_key(article_id, partition), 0)  # type: ignore[misc,assignment]
        if not first:
            return None
        stream, entry_id = first.decode().split(" ", 1)
        rows = as_entries(await self.eventlog.redis.xrange(stream, entry_id, entry_id, count=1))
        filed = decode_event(rows[0][1]) if rows else None
        return filed.occurred_at if filed is not None else None


class LifecycleHandler(NoReads):
    """Kills and embargo changes, read straight from the article events (they need no enrichment)."""

    group = Group.LIFECYCLE
    input = Stream.FILED
    defer_idle_acks = True  # nearly every filing is skipped here: its ack can wait for the others
    # ... and so can the next read: kills and embargo changes wait up to 50 ms more, and a busy
    # stream of filings is read in batches, not one read and dispatch per filing.
    linger_s = 0.05

    def __init__(self, articles: ArticleProjection) -> None:
        self.articles = articles

    async def handle(self, event: AnyEvent, entry_id: str, partition: int) -> Call | None:
        if isinstance(event, ArticleKilled):
            last = await self.articles.last_item(event.article_id, partition)
            item = core.killed_item(last, event)
            log.info("article.killed", version=event.version, reason=event.reason)
            return self.articles.kill_call(Group.LIFECYCLE, partition, source_event_id=event.event_id,
                                           entry_id=entry_id, published=_published(event, item, event.event_id))
        if isinstance(event, EmbargoChanged):
            held = await self.articles.held_item(event.article_id, partition)
            release_ms = int(event.embargoed_until.timestamp() * 1000) if event.embargoed_until else 0
            rebuilt = _published(event, core.re_embargoed(held, event), event.event_id) if held else None
            log.info("article.embargo_changed", version=event.version, release_ms=release_ms, held=held is not None)
            return self.articles.reembargo_call(Group.LIFECYCLE, partition, source_event_id=event.event_id,
                                                entry_id=entry_id, article_id=event.article_id, version=event.version,
                                                release_ms=release_ms, held=rebuilt)
        return None


class PublishState:
    """Everything the routes use; built in ``create_app``, started in the lifespan."""

    def __init__(self, settings: Settings, webhook_settings: WebhookSettings) -> None:
        self.settings = settings
        self.webhook_settings = webhook_settings
        self.redis: Redis = connect(settings)
        self.eventlog = EventLog(self.redis, settings)
        self.credentials = CredentialDirectory(self.redis, settings.redis_url)
        self.articles = ArticleProjection(self.redis)
        self.worker = StreamWorker(self.eventlog, PublishHandler(self.eventlog, self.articles), settings)
        self.lifecycle = StreamWorker(self.eventlog, LifecycleHandler(self.articles), settings)
        self.releaser = EmbargoReleaser(self.articles, settings.partitions)
        self.registry = PartnerRegistry(self.redis)
        self.directory = PartnerDirectory(self.registry)
        # The live tail's blocking read and catch-up reads use their own pool, apart from the worker's.
        self.tail_redis: Redis = connect(settings)
        self.tail = LiveTail(self.tail_redis, settings.partitions, keep=settings.tail_keep)
        self.webhooks = WebhookService(self.redis, settings, webhook_settings, self.registry)
        self.sent = SentLog(self.registry)
        self.serving = Serving(self.tail, self.directory, self.sent, settings.partitions)

    async def partner(self, request: Request[Any, Any, Any], mode: str) -> Credential:
        """The calling partner, if it is active and may use ``mode``."""
        credential = await require(request, self.credentials, PARTNERS)
        entry = self.directory.get(credential.name)
        if entry is None:
            await self.directory.refresh()
            entry = self.directory.get(credential.name)
        if entry is None:
            raise Problem(403, "Forbidden", "this token belongs to no registered partner", kind="unknown-partner")
        partner = entry[0]
        if partner.status != "active":
            raise Problem(403, "Partner paused", f"partner {partner.name!r} is paused; ask the wire's operators",
                          kind="partner-paused")
        if mode not in partner.modes:
            raise Problem(403, "Mode not enabled", f"partner {partner.name!r} has no {mode!r} delivery mode",
                          kind="mode-not-enabled")
        return credential


def _since_ms(since: str) -> int:
    try:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(400, "Bad since", f"{since!r} is not an RFC 3339 time such as 2026-05-04T09:30:00Z",
                      kind="bad-since") from None
    if moment.tzinfo is None:
        raise Problem(400, "Bad since", "give `since` a time zone, e.g. 2026-05-04T09:30:00Z", kind="bad-since")
    return int(moment.timestamp() * 1000)


def create_app(settings: Settings, webhook_settings: WebhookSettings | None = None) -> Litestar:
    state = PublishState(settings, webhook_settings or WebhookSettings.from_env())

    async def check_url(url: str) -> None:
        await check_webhook_url(url, state.webhook_settings.allow)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        await state.directory.start()
        state.credentials.start()
        await state.tail.start()
        await state.sent.start()
        await state.worker.start()
        await state.lifecycle.start()
        await state.releaser.start()
        await state.webhooks.start()
        try:
            yield
        finally:
            await state.webhooks.stop()
            await state.releaser.stop()
            await state.lifecycle.stop()
            await state.worker.stop()
            await state.sent.stop()
            await state.tail.stop()
            await state.directory.stop()
            await state.credentials.stop()
            await state.tail_redis.aclose()
            await state.redis.aclose()

    @get(
        "/v1/stream",
        summary="Live stream of the partner's items (Server-Sent Events)",
        description=(
            "Every published ninjs 3.1 item the partner is entitled to (its filters, plus kills and new versions "
            "of anything it received before), as SSE events `ninjs` whose `id` is the position on the wire. "
            "Resume with `Last-Event-ID` (or `?lastEventId=`): nothing lost, nothing repeated. `?since=<RFC 3339>` "
            "starts at a time instead. With neither, the stream starts with the next item. Comment lines are sent "
            "as heartbeats when the wire is quiet."
        ),
        tags=["partners"],
    )
    async def live_stream(
        request: Request[Any, Any, Any],
        last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID", required=False)] = None,
        last_event_id_query: Annotated[str | None, QueryParameter(name="lastEventId", required=False)] = None,
        since: Annotated[str | None, QueryParameter(name="since", required=False)] = None,
    ) -> StreamResponse:
        credential = await state.partner(request, "sse")
        resume = last_event_id or last_event_id_query
        if resume:
            cursor = Cursor.parse(resume, settings.partitions)
            if cursor is None:
                raise Problem(400, "Bad Last-Event-ID", f"{resume!r} is not an id this stream sent", kind="bad-last-event-id")
        elif since:
            cursor = Cursor.before(_since_ms(since), settings.partitions)
        else:
            cursor = await state.tail.now()
        log.info("stream.opened", partner=credential.name, cursor=str(cursor))

        async def messages() -> AsyncIterator[bytes]:
            try:
                async for message in state.serving.sse(credential.name, cursor, settings.heartbeat_s):
                    yield message
            except PartnerGone:
                log.info("stream.partner_gone", partner=credential.name)
            finally:  # also on disconnect, which cancels the pending wait
                log.info("stream.closed", partner=credential.name, cursor=str(cursor))

        return StreamResponse(messages(), media_type="text/event-stream",
                      headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"})

    @get(
        "/v1/feed",
        summary="Pull feed of the partner's items, with an opaque cursor and long polling",
        description=(
            "Items in wire order after `cursor` (from a previous page's `next`), or from `since` (RFC 3339); with "
            "neither, from 24 hours ago. `limit` 1-100 (default 20). `wait` up to 30 s holds the request open until "
            "an item arrives. Always returns `next`: keep it and ask again."
        ),
        tags=["partners"],
    )
    async def feed(
        request: Request[Any, Any, Any],
        cursor: Annotated[str | None, QueryParameter(required=False)] = None,
        since: Annotated[str | None, QueryParameter(required=False)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        wait: Annotated[float, QueryParameter(ge=0, le=30)] = 0,
    ) -> Response[bytes]:
        credential = await state.partner(request, "feed")
        if cursor:
            position = decode_cursor(cursor, settings.partitions)
            if position is None:
                raise Problem(400, "Bad cursor", "this cursor was not issued by this feed", kind="bad-cursor")
        else:
            start_ms = _since_ms(since) if since else int(datetime.now(UTC).timestamp() * 1000) - FEED_DEFAULT_SINCE_MS
            position = Cursor.before(start_ms, settings.partitions)
        try:
            items, after = await state.serving.feed(credential.name, position, limit, wait)
        except PartnerGone:
            raise Problem(403, "Partner paused", "this partner was paused or removed", kind="partner-paused") from None
        body = b'{"items":[' + b",".join(p.data for p in items) + b'],"next":"' + encode_cursor(after).encode() + b'"}'
        return Response(body, media_type="application/json")

    @get("/v1/partner", summary="The calling partner's own settings", tags=["partners"])
    async def own_settings(request: Request[Any, Any, Any]) -> Response[bytes]:
        credential = await require(request, state.credentials, PARTNERS)
        partner = await state.registry.get(credential.name)
        if partner is None:
            raise Problem(403, "Forbidden", "this token belongs to no registered partner", kind="unknown-partner")
        return Response(encode_json(PartnerView.of(partner)), media_type="application/json")

    @get(
        "/metrics",
        summary="The wire's status as Prometheus metrics",
        description=(
            "Each stream's entries and the age of its newest, each consumer group's pending entries, lag and "
            "consumers, the dead letters, each worker's last heartbeat, each partner's state and webhook queue, and "
            "the server's memory and AOF, read from Redis at each scrape (the same figures as `newswire status`). "
            "Needs an admin key."
        ),
        tags=["admin"],
        media_type=METRICS_TYPE,
    )
    async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
        await require(request, state.credentials, ADMINS)
        return Response(prometheus_text(await wire_status(state.redis, settings.partitions)), media_type=METRICS_TYPE)

    return build_app(
        route_handlers=[live_stream, feed, own_settings, metrics,
                        *admin_routes(state.registry, state.credentials, state.webhooks, check_url),
                        health_route(lambda: state.redis)],
        lifespan=[lifespan],
        openapi_config=openapi(
            "Newswire partner API",
            "Partners receive published ninjs 3.1 items here (`Authorization: Bearer <partner token>`); "
            "operators manage partners under `/v1/partners` (`Authorization: Bearer <admin key>`).",
        ),
    )
