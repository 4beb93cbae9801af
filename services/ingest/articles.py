"""Editors' commands on an existing article (update, correct, kill, embargo) and its read side."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Request, Response, get, post, put
from litestar.params import FromPath, HeaderParameter, JSONBody

from schemas.codec import decode_event, encode_json
from schemas.events import Event
from schemas.streams import history_key, item_key, partition_of, versions_key
from services.ingest import core
from services.wire.credentials import Credential, CredentialDirectory, Role
from services.wire.eventlog import EventLog, read_entries
from services.wire.http import Problem, decode_json, require
from services.wire.versions import version_items

log = structlog.get_logger()
# A route's ``opt`` key naming its body type and what to call it in a problem: read by ingest's
# handler of Litestar's validation failures, so the strict error names that route's own fields.
BODY_OPT = "newswire_body"
EDITORS = frozenset({Role.EDITOR, Role.ADMIN})


def _urn(article: str) -> str:
    urn = core.article_urn(article)
    if urn is None:
        raise Problem(404, "Not found", f"no article {article!r}", kind="article-not-found")
    return urn


def _seen_version(if_match: str | None, required: bool) -> int | None:
    if if_match is None:
        if required:
            raise Problem(428, "Precondition required", "send If-Match with the version you edited, e.g. If-Match: \"3\"",
                          kind="if-match-required")
        return None
    version = core.parse_if_match(if_match)
    if version is None:
        raise Problem(400, "Bad If-Match", f"{if_match!r} is not a version such as \"3\"", kind="bad-if-match")
    return version


def article_routes(eventlog: EventLog, credentials: CredentialDirectory, max_body_bytes: int,
                   ensure_durable: Callable[[], Awaitable[None]]) -> list[Any]:
    redis = eventlog.redis

    async def editor(request: Request[Any, Any, Any]) -> Credential:
        return await require(request, credentials, EDITORS)

    def ids(request: Request[Any, Any, Any], article_id: str) -> core.FilingIds:
        return core.FilingIds(article_id=article_id, event_id=str(uuid.uuid4()),
                              correlation_id=request.headers.get("x-correlation-id") or str(uuid.uuid4()))

    async def state_of(article_id: str) -> dict[str, str]:
        state = await eventlog.article_state(article_id)
        if not state:
            raise Problem(404, "Not found", f"no article {article_id}", kind="article-not-found")
        return state

    async def run(event: Event, seen: int, *, status: str = "", embargo_ms: int | None = None) -> Response[bytes]:
        await ensure_durable()
        code, value = await eventlog.command(event, seen_version=seen, status=status, embargo_ms=embargo_ms)
        if code == -404:
            raise Problem(404, "Not found", f"no article {event.article_id}", kind="article-not-found")
        if code == -409:
            raise Problem(409, "Article killed", "a killed article cannot change any more", kind="article-killed")
        if code == -412:
            raise Problem(412, "Version conflict", f"you edited version {seen}, but the article is at version {value}; "
                          "reload it and apply your change again", kind="version-conflict", currentVersion=int(value),
                          headers={"ETag": f'"{value}"'})
        log.info("article.command", type=event.__struct_config__.tag, version=event.version, entry_id=value)
        accepted = core.CommandAccepted(article_id=event.article_id, version=event.version, event_id=event.event_id,
                                        entry_id=value)
        return Response(msgspec.json.encode(accepted), status_code=202, media_type="application/json",
                        headers={"ETag": f'"{event.version}"', "Location": core.location(event.article_id)})

    async def new_version(request: Request[Any, Any, Any], article: str, if_match: str | None,
                          into: type[core.FileArticle]) -> Response[bytes]:
        credential = await editor(request)
        article_id = _urn(article)
        seen = _seen_version(if_match, required=True)
        assert seen is not None
        filing = decode_json(await request.body(), into, "article")
        now = datetime.now(UTC)
        try:
            core.check_filing(filing, max_body_bytes=max_body_bytes, now=now)
            state = await state_of(article_id)
            held = int(state.get("embargo") or 0)
            embargo = datetime.fromtimestamp(held / 1000, UTC) if held else None
            event = core.build_new_version(filing, ids(request, article_id), editor=credential.name, now=now,
                                           version=seen + 1, embargo=embargo)
        except core.InvalidFiling as exc:
            raise Problem(exc.status, "Invalid article", str(exc), kind="invalid-article",
                          errors=[{"field": e.field, "message": e.message} for e in exc.errors]) from exc
        return await run(event, seen, embargo_ms=core.embargo_ms(event.embargoed_until))

    # Each command's ``data`` parameter declares its body in the OpenAPI description; the handlers
    # decode the raw body strictly themselves (no coercion, field paths in errors), as filing does.
    @put("/v1/articles/{article:str}", summary="Update an article (a new version)", tags=["articles"], status_code=202,
         opt={BODY_OPT: (core.FileArticle, "article")},
         description="The whole new content. Send `If-Match` with the version you edited; a stale one is a `412`.")
    async def update(request: Request[Any, Any, Any], article: FromPath[str], data: JSONBody[core.FileArticle],
                     if_match: Annotated[str | None, HeaderParameter(name="If-Match", required=False)] = None,
                     ) -> Response[bytes]:
        return await new_version(request, article, if_match, core.FileArticle)

    @post("/v1/articles/{article:str}/corrections", summary="Correct an article (a new version with a note)",
          tags=["articles"], status_code=202, opt={BODY_OPT: (core.CorrectArticle, "article")})
    async def correct(request: Request[Any, Any, Any], article: FromPath[str], data: JSONBody[core.CorrectArticle],
                      if_match: Annotated[str | None, HeaderParameter(name="If-Match", required=False)] = None,
                      ) -> Response[bytes]:
        return await new_version(request, article, if_match, core.CorrectArticle)

    @post("/v1/articles/{article:str}/kill", summary="Kill an article: it reaches everyone who had it",
          tags=["articles"], status_code=202, opt={BODY_OPT: (core.KillArticle, "kill")},
          description="`If-Match` is optional: a kill must not wait for an editor to reload.")
    async def kill(request: Request[Any, Any, Any], article: FromPath[str], data: JSONBody[core.KillArticle],
                   if_match: Annotated[str | None, HeaderParameter(name="If-Match", required=False)] = None,
                   ) -> Response[bytes]:
        credential = await editor(request)
        article_id = _urn(article)
        body = decode_json(await request.body(), core.KillArticle, "kill")
        seen = _seen_version(if_match, required=False) or int((await state_of(article_id))["version"])
        event = core.build_killed(body, ids(request, article_id), editor=credential.name, now=datetime.now(UTC),
                                  version=seen + 1)
        return await run(event, seen, status="canceled")

    @put("/v1/articles/{article:str}/embargo", summary="Set, extend or lift an article's embargo",
         tags=["articles"], status_code=202, opt={BODY_OPT: (core.ChangeEmbargo, "embargo")})
    async def embargo(request: Request[Any, Any, Any], article: FromPath[str], data: JSONBody[core.ChangeEmbargo],
                      if_match: Annotated[str | None, HeaderParameter(name="If-Match", required=False)] = None,
                      ) -> Response[bytes]:
        credential = await editor(request)
        article_id = _urn(article)
        body = decode_json(await request.body(), core.ChangeEmbargo, "embargo")
        try:
            core.check_embargo(body.embargoed_until)
        except core.InvalidFiling as exc:
            raise Problem(422, "Invalid embargo", str(exc), kind="invalid-embargo") from exc
        seen = _seen_version(if_match, required=False) or int((await state_of(article_id))["version"])
        event = core.build_embargo_changed(body, ids(request, article_id), editor=credential.name,
                                           now=datetime.now(UTC), version=seen + 1)
        return await run(event, seen, embargo_ms=core.embargo_ms(body.embargoed_until))

    def partition(article_id: str) -> int:
        return partition_of(article_id, eventlog.settings.partitions)

    def keys(article_id: str) -> tuple[str, str, str]:
        p = partition(article_id)
        return item_key(article_id, p), versions_key(article_id, p), history_key(article_id, p)

    @get("/v1/articles/{article:str}", summary="An article as it stands (ninjs)", tags=["articles"])
    async def current(request: Request[Any, Any, Any], article: FromPath[str]) -> Response[bytes]:
        await editor(request)
        article_id = _urn(article)
        state = await state_of(article_id)
        item_k, versions_k, _ = keys(article_id)
        built: dict[int, bytes] = {int(k): v for k, v in (await redis.hgetall(versions_k)).items()}  # type: ignore[misc]
        held = await redis.hget(item_k, "pending_version")  # type: ignore[misc]
        newest_item = None
        if built:
            newest = max(built)
            newest_item = (await version_items(redis, partition(article_id), {newest: built[newest]})).get(newest)
        if newest_item is not None:
            document = msgspec.json.decode(newest_item)
            if held is not None and int(held) == newest:
                document["pubStatus"] = "withheld"  # held back by its embargo
        else:  # filed a moment ago: not through the pipeline yet
            document = {"uri": article_id, "type": "text", "pubStatus": "withheld", "version": state["version"]}
        headers = {"ETag": f'"{state["version"]}"', "X-Newswire-Status": state.get("status", "usable")}
        return Response(msgspec.json.encode(document), media_type="application/json", headers=headers)

    @get("/v1/articles/{article:str}/versions/{version:int}", summary="One version of an article (ninjs)",
         tags=["articles"])
    async def one_version(request: Request[Any, Any, Any], article: FromPath[str], version: FromPath[int]) -> Response[bytes]:
        await editor(request)
        article_id = _urn(article)
        _, versions_k, _ = keys(article_id)
        stored: bytes | None = await redis.hget(versions_k, str(version))  # type: ignore[misc,assignment]
        raw = (await version_items(redis, partition(article_id), {version: stored})).get(version) if stored else None
        if raw is None:
            raise Problem(404, "Not found", f"article {article_id} has no built version {version}", kind="version-not-found")
        return Response(raw, media_type="application/json")

    @get("/v1/articles/{article:str}/events", summary="The article's history: every event, oldest first",
         tags=["articles"])
    async def history(request: Request[Any, Any, Any], article: FromPath[str]) -> Response[bytes]:
        await editor(request)
        article_id = _urn(article)
        await state_of(article_id)
        _, _, history_k = keys(article_id)
        rows_raw: list[bytes] = await redis.lrange(history_k, 0, -1)  # type: ignore[misc,assignment]
        refs = [(stream, entry_id) for stream, _, entry_id in (r.decode().partition(" ") for r in rows_raw)]
        found = await read_entries(redis, refs)
        out = []
        for stream, entry_id in refs:
            fields = found.get((stream, entry_id))
            event = decode_event(fields) if fields else None
            if event is not None:
                out.append({"entryId": entry_id, "stream": stream, "event": msgspec.json.decode(encode_json(event))})
        return Response(msgspec.json.encode(out), media_type="application/json")

    return [update, correct, kill, embargo, current, one_version, history]


