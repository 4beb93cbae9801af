"""What both HTTP services share: RFC 9457 problem responses, bearer auth, health, app set-up."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec
import structlog
from litestar import Litestar, MediaType, Request, Response, get
from litestar.exceptions import HTTPException, NotFoundException, SerializationException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.wire.credentials import Credential, CredentialDirectory, Role, bearer

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://newswire.dev/problems/"
RETRY_AFTER_S = 2

log = structlog.get_logger()
T = TypeVar("T")


class Problem(Exception):
    """An RFC 9457 problem: raised anywhere in a request, rendered as ``application/problem+json``."""

    def __init__(self, status: int, title: str, detail: str, *, kind: str | None = None,
                 headers: Mapping[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.headers = dict(headers or {})
        self.extensions = extensions


def validation_problem(exc: msgspec.ValidationError | msgspec.DecodeError, what: str = "request") -> Problem:
    """A strict msgspec decode failure as a problem naming the field's JSON path."""
    if isinstance(exc, msgspec.ValidationError):
        message = str(exc)
        field = message.rpartition(" - at `")[2].rstrip("`") if " - at `" in message else "$"
        return Problem(422, f"Invalid {what}", message, kind=f"invalid-{what}",
                       errors=[{"field": field, "message": message.partition(" - at `")[0]}])
    return malformed_json_problem(str(exc))


def malformed_json_problem(reason: str) -> Problem:
    """The problem for a request body that is not JSON, whichever decoder found it and why."""
    return Problem(400, "Malformed JSON", f"the request body is not valid JSON: {reason}", kind="malformed-json")


# Besides ``DecodeError``, msgspec raises these for a body that is not UTF-8 or nests too deeply.
UNDECODABLE = (UnicodeDecodeError, RecursionError)


def undecodable_problem(exc: BaseException) -> Problem:
    return malformed_json_problem("it is not UTF-8" if isinstance(exc, UnicodeDecodeError) else "it nests too deeply")


def decode_json(raw: bytes, into: type[T], what: str = "request") -> T:
    """Strict decode of a request body: no coercion, unknown fields refused, errors with a path."""
    try:
        return msgspec.json.decode(raw, type=into)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise validation_problem(exc, what) from exc
    except UNDECODABLE as exc:
        raise undecodable_problem(exc) from exc


def problem_response(problem: Problem, instance: str | None = None) -> Response[bytes]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.kind,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    body.update(problem.extensions)
    return Response(msgspec.json.encode(body), status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers)


def _on_problem(request: Request[Any, Any, Any], exc: Problem) -> Response[bytes]:
    return problem_response(exc, request.url.path)


def parameter_problem(exc: ValidationException) -> Problem | None:
    """Litestar's failed validation of a request's parameters (query, header, path, cookie) as a problem
    naming each one, where it was and what was wrong; ``None`` when Litestar named none."""
    errors = [
        {"field": str(e["key"]), "in": str(getattr(e.get("source"), "value", e.get("source"))), "message": str(e.get("message"))}
        for e in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(e, dict) and e.get("key")
    ]
    if not errors:
        return None
    detail = "; ".join(f"{e['in']} parameter {e['field']!r}: {e['message']}" for e in errors)
    return Problem(400, "Invalid parameters", detail, kind="invalid-parameters", errors=errors)


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's own HTTP errors (routing, parameters, body decoding) as problems."""
    if isinstance(exc, ValidationException) and (named := parameter_problem(exc)) is not None:
        return problem_response(named, request.url.path)
    if isinstance(exc.__cause__, SerializationException):  # Litestar's own decode of a JSON body
        return problem_response(malformed_json_problem(str(exc.__cause__)), request.url.path)
    status = exc.status_code
    titles = {404: "Not found", 405: "Method not allowed", 413: "Content too large", 400: "Bad request"}
    title = titles.get(status, "HTTP error")
    detail = exc.detail if exc.detail and exc.detail != title else title
    if isinstance(exc, NotFoundException):
        detail = f"no resource at {request.url.path}"
    headers = dict(exc.headers or {})
    return problem_response(Problem(status, title, str(detail), headers=headers), request.url.path)


def _on_redis_down(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.warning("redis.unavailable", path=request.url.path, error=str(exc))
    problem = Problem(503, "Service unavailable", "the event log is unreachable; nothing was recorded, retry shortly",
                      headers={"Retry-After": str(RETRY_AFTER_S)})
    return problem_response(problem, request.url.path)


def _on_undecodable(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Litestar's own body decoding lets these through: a 400 when the body itself is the cause, else a 500."""
    cached = getattr(request, "_body", None)
    if isinstance(cached, bytes):
        try:
            msgspec.json.decode(cached)
        except UNDECODABLE as again:
            return problem_response(undecodable_problem(again), request.url.path)
        except msgspec.DecodeError:
            pass
    return _on_unexpected(request, exc)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("http.unhandled_error", path=request.url.path)
    problem = Problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal error", "the request failed on our side; it has been logged")
    return problem_response(problem, request.url.path)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Callable[..., Response[bytes]]] = {
    Problem: _on_problem,
    HTTPException: on_http_error,
    RedisConnectionError: _on_redis_down,
    RedisTimeoutError: _on_redis_down,
    UnicodeDecodeError: _on_undecodable,
    RecursionError: _on_undecodable,
    Exception: _on_unexpected,
}


async def require(request: Request[Any, Any, Any], credentials: CredentialDirectory, roles: frozenset[Role]) -> Credential:
    """The caller's credential, or a 401 problem."""
    secret = bearer(request.headers.get("authorization"))
    credential = await credentials.authenticate(secret, roles) if secret else None
    if credential is None:
        want = " or ".join(sorted(r.value for r in roles))
        raise Problem(401, "Unauthorized", f"send 'Authorization: Bearer <key>' with a valid {want} credential",
                      headers={"WWW-Authenticate": 'Bearer realm="newswire"'})
    return credential


def health_route(redis_of: Callable[[], Redis]) -> Any:
    @get("/health", media_type=MediaType.JSON, include_in_schema=False)
    async def health() -> Response[bytes]:
        try:
            await redis_of().ping()  # type: ignore[misc]
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            return Response(msgspec.json.encode({"status": "unavailable", "error": str(exc)}), status_code=503,
                            media_type=MediaType.JSON)
        return Response(msgspec.json.encode({"status": "ok"}), media_type=MediaType.JSON)

    return health


def openapi(title: str, description: str) -> OpenAPIConfig:
    return OpenAPIConfig(title=title, version="1.0.0", description=description, path="/docs",
                         render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")])


def build_app(**kwargs: Any) -> Litestar:
    handlers = {**EXCEPTION_HANDLERS, **kwargs.pop("exception_handlers", {})}
    return Litestar(exception_handlers=handlers, **kwargs)
