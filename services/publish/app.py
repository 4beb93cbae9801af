"""The publish process: a worker that turns enriched versions into ninjs items, and the partner API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from litestar import Litestar, Request, get
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent
from redis.asyncio import Redis

from schemas.codec import decode_event
from schemas.events import AnyEvent, ArticleEnriched, ArticleFiled, ArticlePublished
from schemas.streams import Group, Stream, stream_key
from services.publish import core
from services.publish.stream import Cursor, cursor_now, events
from services.wire.credentials import Role
from services.wire.eventlog import EventLog, as_entries, connect
from services.wire.http import Problem, build_app, health_route, openapi, require
from services.wire.settings import Settings
from services.wire.worker import Call, StreamWorker

log = structlog.get_logger()
PARTNERS = frozenset({Role.PARTNER})


class MissingSource(RuntimeError):
    """An enriched event points at a filed entry the log does not have."""


class PublishHandler:
    """Enriched version -> ninjs item on the published stream, once per enriched event."""

    group = Group.PUBLISH
    input = Stream.ENRICHED

    def __init__(self, eventlog: EventLog) -> None:
        self.eventlog = eventlog

    async def before_batch(self, partition: int) -> None:
        return None

    async def handle(self, event: AnyEvent, entry_id: str, partition: int) -> Call | None:
        if not isinstance(event, ArticleEnriched):
            return None
        filed = await self._filed(event, partition)
        item = core.build_item(filed, event)
        published = ArticlePublished(
            event_id=str(uuid.uuid4()), article_id=event.article_id, version=event.version,
            occurred_at=datetime.now(UTC), correlation_id=event.correlation_id,
            source_event_id=event.event_id, item=item,
        )
        log.info("article.published", version=event.version, tags=len(event.tags), related=len(event.related))
        return self.eventlog.append_once_args(
            Group.PUBLISH, partition, source_event_id=event.event_id, input_entry_id=entry_id,
            output=published, out_stream=Stream.PUBLISHED,
        )

    async def _filed(self, event: ArticleEnriched, partition: int) -> ArticleFiled:
        rows = as_entries(await self.eventlog.redis.xrange(
            stream_key(Stream.FILED, partition), event.source_entry_id, event.source_entry_id, count=1
        ))
        filed = decode_event(rows[0][1]) if rows else None
        if not isinstance(filed, ArticleFiled) or filed.event_id != event.source_event_id:
            raise MissingSource(f"filed entry {event.source_entry_id} for event {event.source_event_id} not found")
        return filed


def create_app(settings: Settings) -> Litestar:
    redis: Redis = connect(settings)
    eventlog = EventLog(redis, settings)
    worker = StreamWorker(eventlog, PublishHandler(eventlog), settings)
    # Blocking reads of live streams get their own pool, so they never starve the worker.
    stream_redis: Redis = Redis.from_url(settings.redis_url, max_connections=10_000)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        await worker.start()
        try:
            yield
        finally:
            await worker.stop()
            await stream_redis.aclose()
            await redis.aclose()

    @get(
        "/v1/stream",
        summary="Live stream of published items (Server-Sent Events)",
        description=(
            "Every published ninjs 3.1 item as an SSE event `ninjs` whose `id` is its position on the wire. "
            "Reconnect with `Last-Event-ID` (or `?lastEventId=`) to resume after that item: nothing lost, "
            "nothing repeated. Without it the stream starts with the next item published. Comment lines "
            "are sent as heartbeats when the wire is quiet. Authenticate with `Authorization: Bearer <partner token>`."
        ),
        tags=["partners"],
    )
    async def live_stream(
        request: Request[Any, Any, Any],
        last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID", required=False)] = None,
        last_event_id_query: Annotated[str | None, QueryParameter(name="lastEventId", required=False)] = None,
    ) -> ServerSentEvent:
        credential = await require(request, redis, PARTNERS)
        resume = last_event_id or last_event_id_query
        if resume:
            cursor = Cursor.parse(resume, settings.partitions)
            if cursor is None:
                raise Problem(400, "Bad Last-Event-ID", f"{resume!r} is not an id this stream sent", kind="bad-last-event-id")
        else:
            cursor = await cursor_now(redis, settings.partitions)
        log.info("stream.opened", partner=credential.name, cursor=str(cursor))

        async def guarded() -> AsyncIterator[Any]:
            try:
                async for message in events(stream_redis, cursor, settings.heartbeat_s):
                    yield message
            finally:  # also on disconnect, which cancels the pending read
                log.info("stream.closed", partner=credential.name, cursor=str(cursor))

        return ServerSentEvent(guarded(), headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"})

    return build_app(
        route_handlers=[live_stream, health_route(lambda: redis)],
        lifespan=[lifespan],
        openapi_config=openapi("Newswire partner API", "Partners receive published ninjs 3.1 items here."),
    )

