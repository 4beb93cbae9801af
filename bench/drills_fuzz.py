"""The bad-input drill: schema-driven fuzzing of every HTTP API, then hand-made hostile requests.

The fuzzing loads each running service's ``/docs/openapi.json`` with schemathesis and sends, per
operation, ``examples`` requests that fit the schema and ``examples`` that do not, with a valid
credential (editor key for ingest; partner token or admin key for the partner API). Any ``5xx``
is a failure. ``GET /v1/stream`` is left out (with a valid token it never ends); the hostile
requests cover it.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.drills_checks import Result, settle
from bench.drills_wire import (
    DRILL_ENV,
    SERVICES,
    DrillTimeout,
    DrillWire,
    Editor,
    SseFollower,
    close_drill,
    eventually,
    text,
)

SKIP = {("GET", "/v1/stream")}
FIXED_QUERY = {("GET", "/v1/feed"): {"wait": 0}}  # a long poll would only slow the run down


@dataclass
class FuzzStats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    operations: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # one line per 5xx: operation, status, request
    ungenerable: list[str] = field(default_factory=list)  # operations and modes with no case to send

    def record(self, label: str, status: int, detail: str) -> None:
        self.requests += 1
        self.statuses[status] += 1
        if status >= 500:
            self.server_errors.append(f"{label} -> {status}: {detail[:400]}")


def fuzz_api(base_url: str, auth_for: dict[str, str], examples: int, stats: FuzzStats | None = None,
             seed: int = 0, path_values: dict[str, str] | None = None) -> FuzzStats:
    """Fuzz every operation of the OpenAPI description at ``base_url``/docs/openapi.json.

    ``auth_for`` maps a path prefix to the ``Authorization`` header for operations under it (the
    longest prefix wins). ``path_values`` names resources that exist (e.g. ``{"article": id}``):
    operations whose path parameters they cover are fuzzed once more with them fixed, so the
    requests get past the ``404``. Blocking: it uses schemathesis's synchronous transport.
    """
    import hypothesis
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.core.result import Ok

    stats = stats or FuzzStats()
    schema = schemathesis.openapi.from_url(base_url + "/docs/openapi.json")
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise result.err()  # an operation the schema describes wrongly is itself a failure
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in SKIP:
            continue
        prefix = max((p for p in auth_for if operation.path.startswith(p)), key=len, default=None)
        headers = {"Authorization": auth_for[prefix]} if prefix is not None else {}
        names = set(re.findall(r"{(\w+)}", operation.path))
        fixed = {n: v for n, v in (path_values or {}).items() if n in names}
        rounds: list[tuple[GenerationMode, dict[str, str] | None]] = [
            (mode, None) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
        if names and set(fixed) == names and key[0] != "DELETE":  # keep the resource for the other operations
            rounds += [(mode, fixed) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
        for mode, path in rounds:
            label = f"{key[0]} {key[1]} ({mode.value}{', existing' if path else ''})"
            stats.operations.append(label)
            strategy = operation.as_strategy(generation_mode=mode, query=FIXED_QUERY.get(key), path_parameters=path)

            try:
                _run_examples(strategy, examples, seed, lambda case, label=label, headers=headers: _send(
                    stats, base_url, label, headers, case))
            except hypothesis.errors.Unsatisfiable:  # nothing to make invalid (e.g. no parameters at all)
                stats.ungenerable.append(label)
    return stats


def _run_examples(strategy: Any, examples: int, seed: int, send: Any) -> None:
    import hypothesis
    from hypothesis import HealthCheck, Phase

    @hypothesis.settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                         suppress_health_check=list(HealthCheck))
    @hypothesis.seed(seed)
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        send(case)

    run()


def _send(stats: FuzzStats, base_url: str, label: str, headers: dict[str, str], case: Any) -> None:
    merged = {**(case.headers or {}), **headers}
    try:
        response = case.call(base_url=base_url, headers=merged, timeout=15)
    except Exception as exc:  # no HTTP answer at all is as bad as a 5xx
        stats.record(label, 599, f"{type(exc).__name__}: {exc} for {case.as_curl_command()}")
        return
    stats.record(label, response.status_code, f"{case.as_curl_command()} {response.text[:200]}")


@dataclass
class Hostile:
    """Hand-made bad requests and what each got."""

    answers: list[tuple[str, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def expect(self, what: str, status: int, allowed: set[int]) -> None:
        self.answers.append((what, status))
        if status not in allowed:
            self.failures.append(f"{what}: got {status}, wanted one of {sorted(allowed)}")


HOSTILE_BODY = (
    '<p onclick="steal()">Harbour <a href="javascript:alert(1)">reopens</a> after the storm.'
    '<script>alert(2)</script><img src=x onerror=alert(3)><iframe src="https://evil.example"></iframe>'
    '<svg onload=alert(4)></svg><style>body{display:none}</style>'
    '<a href="data:text/html;base64,PHNjcmlwdD4=">more</a><form action="https://evil.example"><input></form></p>'
)
FORBIDDEN = ("<script", "onclick", "javascript:", "onerror", "<img", "<iframe", "<svg", "onload", "<style",
             "data:text", "<form", "<input")


async def hostile_requests(wire: DrillWire, follower: SseFollower, max_body_bytes: int) -> Hostile:
    """Oversize, malformed and hostile requests: each rejected with a 4xx, or accepted and sanitised."""
    out = Hostile()
    editor = {"Authorization": f"Bearer {wire.editor_key}", "Content-Type": "application/json"}
    articles = wire.ingest_url + "/v1/articles"
    async with httpx.AsyncClient(timeout=30) as client:
        big = b'{"headline": "Big", "body": "<p>' + b"word " * (max_body_bytes // 4) + b'</p>"}'
        out.expect("oversize body", (await client.post(articles, content=big, headers=editor)).status_code, {413})

        async def chunks() -> Any:
            for _ in range(64):
                yield b"x" * (max_body_bytes // 16)

        chunked = await client.post(articles, content=chunks(), headers=editor)
        out.expect("oversize chunked body (no Content-Length)", chunked.status_code, {413})
        for what, raw in (("malformed JSON", b'{"headline": '), ("invalid UTF-8", b'{"headline": "\xff\xfe", "body": "x"}'),
                          ("a JSON array", b"[1, 2, 3]"), ("deeply nested JSON", b"[" * 100_000 + b"]" * 100_000),
                          ("a NUL byte", b'{"headline": "a\\u0000b", "body": "<p>x</p>"}'),
                          ("a huge number", b'{"headline": "n", "body": "<p>x</p>", "urgency": 1' + b"0" * 5000 + b"}"),
                          ("an empty body", b"")):
            response = await client.post(articles, content=raw, headers=editor)
            out.expect(what, response.status_code, {400, 413, 422} if what != "a NUL byte" else {202, 400, 422})
        text_plain = {**editor, "Content-Type": "text/plain"}
        response = await client.post(articles, content=b"not even JSON", headers=text_plain)
        out.expect("text/plain body", response.status_code, {400, 415, 422})
        for what, value in (("an editor key of 100 kB", "Bearer " + "k" * 100_000),
                            ("a non-ASCII key", "Bearer clé".encode("latin-1")),
                            ("no key", "")):
            response = await client.post(articles, json={"headline": "x", "body": "<p>x</p>"},
                                         headers={"Authorization": value})  # type: ignore[arg-type]
            out.expect(what, response.status_code, {400, 401, 431})
        stream = wire.partner_url + "/v1/stream"
        token = {"Authorization": f"Bearer {follower.token}"}
        for what, headers in (("a bad Last-Event-ID", {**token, "Last-Event-ID": "yesterday"}),
                              ("a Last-Event-ID of 10 kB", {**token, "Last-Event-ID": "1" * 10_000 + "-0"}),
                              ("a script as Last-Event-ID", {**token, "Last-Event-ID": "<script>alert(1)</script>"})):
            response = await client.get(stream, headers=headers)
            out.expect(what, response.status_code, {400})
        response = await client.get(stream, params={"since": "<script>"}, headers=token)
        out.expect("a script as since", response.status_code, {400})

        accepted = await Editor(wire).file_one(client, 0, "hostile", body={
            "headline": "Harbour reopens <script>alert(1)</script>", "body": HOSTILE_BODY, "urgency": 4})
        out.expect("script-laden HTML", accepted.status, {202})
        only_script = await client.post(articles, json={"headline": "x", "body": "<script>alert(1)</script>"},
                                        headers=editor)
        out.expect("a body that is only a script", only_script.status_code, {422})
    if accepted.status == 202:
        await eventually(lambda: accepted.article_id in follower.uris(), 60, "the sanitised story at the partner")
        item = next(d.item for d in follower.got if d.uri == accepted.article_id)
        html = " ".join(str(body.get("value", "")) for body in item.get("bodies", []))
        left = [bad for bad in FORBIDDEN if bad in html.lower()]
        if left or "Harbour" not in html:
            out.failures.append(f"the delivered body still holds {left} (or lost its text): {html[:300]}")
        out.answers.append(("delivered body sanitised", 0 if left else 200))
    return out


async def pipeline_casualties(wire: DrillWire) -> list[str]:
    """Once the workers are idle: the entries they failed on (dead letters, or errors still pending)."""
    from schemas.streams import Group
    from services.wire.eventlog import EventLog, errors_key
    from services.wire.settings import Settings

    await settle(wire, 2 * int(DRILL_ENV["NEWSWIRE_CLAIM_IDLE_MS"]) / 1000)
    dead = await EventLog(wire.r, Settings(redis_url=wire.redis_url)).dead_letters(0, 1000)
    found = [f"{d.group} {d.entry_id}: {d.error[:300]}" for d in dead]
    for group in Group:
        errors = await wire.r.hgetall(errors_key(group, 0))  # type: ignore[misc]
        found += [f"{group.value} {text(k)} (pending): {text(v)[:300]}" for k, v in errors.items()]
    return found


async def fuzz_both(wire: DrillWire, token: str, examples: int) -> FuzzStats:
    """Both services' APIs, with an article and a partner that exist for the routes that name one."""
    async with httpx.AsyncClient(timeout=30) as client:
        target = await Editor(wire).file_one(client, 0, "fuzz-target")
    await wire.register("fuzz-target", ["sse", "feed"])
    stats = FuzzStats()
    await asyncio.to_thread(fuzz_api, wire.ingest_url, {"/": f"Bearer {wire.editor_key}"}, examples, stats,
                            path_values={"article": target.article_id.rsplit(":", 1)[1]})
    await asyncio.to_thread(fuzz_api, wire.partner_url, {"/": f"Bearer {token}", "/v1/partners": f"Bearer {wire.admin_key}"},
                            examples, stats, path_values={"name": "fuzz-target"})
    return stats


async def run_fuzz_drill(workdir: Path, examples: int) -> Result:
    from services.wire.settings import Settings

    result = Result("bad input (schemathesis + hostile requests)")
    wire = DrillWire(workdir)
    await wire.open()
    follower: SseFollower | None = None
    try:
        token = await wire.register("drill-sse", ["sse", "feed"])
        follower = SseFollower(wire.partner_url, token)
        for name in SERVICES:
            wire.start(name)
        await wire.wait_ready()
        follower.start()
        stats = await fuzz_both(wire, token, examples)
        result.figures.update({"operations": len(stats.operations), "ungenerable": len(stats.ungenerable),
                               "requests": stats.requests,
                               "answers": dict(sorted(stats.statuses.items()))})
        result.check(stats.requests > 0, "schemathesis sent no requests")
        result.failures += stats.server_errors[:20]
        if len(stats.server_errors) > 20:
            result.failures.append(f"... and {len(stats.server_errors) - 20} more 5xx answers")
        hostile = await hostile_requests(wire, follower, Settings().max_body_bytes)
        result.figures["hostile"] = len(hostile.answers)
        result.failures += hostile.failures
        dead = await pipeline_casualties(wire)
        result.figures["dead_letters"] = len(dead)
        result.failures += [f"what the fuzzing filed made a worker fail: {d}" for d in dead[:10]]
        result.check(not wire.exited(), f"services exited: {wire.exited()}")
    except DrillTimeout as exc:
        result.failures.append(str(exc))
    finally:
        await close_drill(wire, follower)
    return result
