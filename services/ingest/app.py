"""The ingest HTTP API: ``POST /v1/articles`` validates, appends ``ArticleFiled``, answers ``202``."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Litestar, Request, Response, post
from litestar.exceptions import ValidationException
from litestar.params import HeaderParameter, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from schemas.streams import idempotency_key as idempotency_redis_key
from schemas.streams import partition_of
from services.ingest import core
from services.ingest.articles import BODY_OPT, article_routes
from services.wire.credentials import CredentialDirectory, Role
from services.wire.eventlog import DurabilityError, EventLog, connect
from services.wire.http import (
    Problem,
    build_app,
    health_route,
    on_http_error,
    openapi,
    problem_response,
    require,
    validation_problem,
)
from services.wire.settings import Settings

log = structlog.get_logger()
EDITORS = frozenset({Role.EDITOR, Role.ADMIN})
IDEMPOTENCY_TTL_S = 24 * 3600
DURABILITY_RECHECK_S = 5.0


class IngestState:
    """What the routes need; built in the lifespan, never at import time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis: Redis = connect(settings)
        self.eventlog = EventLog(self.redis, settings)
        self.credentials = CredentialDirectory(self.redis, settings.redis_url)
        self.durable_at: float | None = None  # time.monotonic() of the last check that passed

    async def ensure_durable(self) -> None:
        """The server keeps the durability promise; checked again every few seconds, since the server
        may have been restarted or replaced with another configuration since ingest started."""
        if self.durable_at is not None and time.monotonic() - self.durable_at < DURABILITY_RECHECK_S:
            return
        try:
            await self.eventlog.check_durability()
        except DurabilityError as exc:
            self.durable_at = None
            raise Problem(503, "Service unavailable", str(exc), kind="durability") from exc
        self.durable_at = time.monotonic()


def _on_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    """Litestar's own (lenient) decode failed: decode strictly again for a message with the field path."""
    cached = getattr(request, "_body", None)  # read by Litestar before it failed
    raw = cached if isinstance(cached, bytes) else b""
    into, what = request.route_handler.opt.get(BODY_OPT, (core.FileArticle, "article"))
    try:
        msgspec.json.decode(raw, type=into)
    except (msgspec.ValidationError, msgspec.DecodeError) as strict:
        return problem_response(validation_problem(strict, what), request.url.path)
    return on_http_error(request, exc)  # the body decodes strictly: a parameter, or Litestar's own reason


def create_app(settings: Settings) -> Litestar:
    state = IngestState(settings)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        try:
            await state.eventlog.check_durability()
            state.durable_at = time.monotonic()
        except RedisConnectionError as exc:
            log.warning("ingest.redis_unreachable_at_start", error=str(exc))
        log.info("ingest.started", durability=settings.durability.value, redis=_safe_url(settings.redis_url))
        state.credentials.start()
        try:
            yield
        finally:
            await state.credentials.stop()
            await state.redis.aclose()

    @post(
        "/v1/articles",
        status_code=HTTP_202_ACCEPTED,
        summary="File a new article",
        description=(
            "Validates the story, sanitises its HTML and appends an `ArticleFiled` event to the log. "
            "`202` means the event is recorded (on disk with the default durability). Send an "
            "`Idempotency-Key` to make retries safe: the same key and body give the same answer and no "
            "second event; the same key with another body is a `422`."
        ),
        tags=["articles"],
    )
    async def file_article(
        request: Request[Any, Any, Any],
        data: JSONBody[core.FileArticle],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)] = None,
    ) -> Response[bytes]:
        credential = await require(request, state.credentials, EDITORS)
        raw = await request.body()
        try:
            filing = core.decode_filing(raw)  # strict: no silent coercion of "3" into 3
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise validation_problem(exc, "article") from exc
        now = datetime.now(UTC)
        try:
            core.check_filing(filing, max_body_bytes=settings.max_body_bytes, now=now)
            if idempotency_key is not None and not core.valid_idempotency_key(idempotency_key):
                raise Problem(400, "Bad Idempotency-Key", "an Idempotency-Key is 1-255 printable ASCII characters",
                              kind="bad-idempotency-key")
            article_id = core.new_article_id(credential.name, idempotency_key, uuid.uuid4())
            ids = core.FilingIds(article_id=article_id, event_id=str(uuid.uuid4()),
                                 correlation_id=request.headers.get("x-correlation-id") or str(uuid.uuid4()))
            event = core.build_filed(filing, ids, editor=credential.name, now=now)
        except core.InvalidFiling as exc:
            raise Problem(exc.status, "Invalid article", str(exc), kind="invalid-article",
                          errors=[{"field": e.field, "message": e.message} for e in exc.errors]) from exc
        await state.ensure_durable()
        structlog.contextvars.bind_contextvars(correlation_id=ids.correlation_id, article_id=article_id)
        try:
            answer = await _append(state, event, idempotency_key, credential.name, raw)
        finally:
            structlog.contextvars.clear_contextvars()
        return answer

    return build_app(
        route_handlers=[file_article,
                        *article_routes(state.eventlog, state.credentials, settings.max_body_bytes, state.ensure_durable),
                        health_route(lambda: state.redis)],
        lifespan=[lifespan],
        openapi_config=openapi(
            "Newswire ingest", "Editors file stories here. Authenticate with `Authorization: Bearer <editor key>`."
        ),
        exception_handlers={ValidationException: _on_validation},
        request_max_body_size=settings.max_body_bytes + 64 * 1024,
    )


async def _append(state: IngestState, event: Any, idempotency_key: str | None, editor: str, raw: bytes) -> Response[bytes]:
    location = core.location(event.article_id)
    draft = core.FilingAccepted(article_id=event.article_id, version=event.version, event_id=event.event_id,
                                entry_id="", location=location)
    idempotency = None
    fingerprint = core.fingerprint(editor, raw)
    if idempotency_key is not None:
        partition = partition_of(event.article_id, state.settings.partitions)
        key = idempotency_redis_key(core.fingerprint(editor, idempotency_key.encode()), partition)
        idempotency = (key, fingerprint, msgspec.json.encode(draft), IDEMPOTENCY_TTL_S)
    code, value = await state.eventlog.file(event, embargo_ms=core.embargo_ms(event.embargoed_until),
                                            idempotency=idempotency)
    if code == 1:
        log.info("article.filed", event_id=event.event_id, entry_id=value, idempotency_key=idempotency_key)
        return _accepted(msgspec.structs.replace(draft, entry_id=value), replayed=False)
    if code == -409:
        raise Problem(409, "Conflict", "an article with this id exists already", kind="article-exists")
    stored_fingerprint, entry_id, stored_answer = value.split("\n", 2)
    if stored_fingerprint != fingerprint:
        raise Problem(422, "Idempotency-Key reused", "this Idempotency-Key was used with a different request body",
                      kind="idempotency-key-reused")
    previous = msgspec.json.decode(stored_answer.encode(), type=core.FilingAccepted)
    return _accepted(msgspec.structs.replace(previous, entry_id=entry_id), replayed=True)


def _accepted(accepted: core.FilingAccepted, *, replayed: bool) -> Response[bytes]:
    headers = {"Location": accepted.location}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(msgspec.json.encode(accepted), status_code=HTTP_202_ACCEPTED, media_type="application/json",
                    headers=headers)


def _safe_url(url: str) -> str:
    """A Redis URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.rpartition("@")[2]
