"""What the fault drills check and count: deliveries by id, order, settling, and their results."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench.drills_wire import DrillWire, SseFollower, eventually, webhook_uri
from bench.receiver import Receiver
from schemas.streams import Group, Stream, stream_key


@dataclass
class Result:
    """What a drill saw: its figures, and the checks that failed (none: PASS)."""

    name: str
    figures: dict[str, object] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.failures.append(message)

    def report(self) -> str:
        head = f"{'PASS' if self.ok else 'FAIL'} {self.name}: " + ", ".join(f"{k}={v}" for k, v in self.figures.items())
        return "\n".join([head, *(f"  - {f}" for f in self.failures)])


def say(text: str) -> None:
    print(text, flush=True)


# -- delivery accounting -------------------------------------------------------------------------

@dataclass
class WebhookCount:
    posts: int  # 2xx answers, redeliveries included
    ids: list[str]  # distinct webhook-ids, in order of first arrival
    uris: dict[str, list[str]]  # article uri -> the distinct webhook-ids it came under
    versions: Counter[tuple[str, str]]  # (uri, version) over distinct webhook-ids


@dataclass
class Tally:
    """A webhook receiver's deliveries on one path, read incrementally (the drills poll it often)."""

    receiver: Receiver
    path: str
    read: int = 0
    posts: int = 0
    first: dict[str, tuple[str, str]] = field(default_factory=dict)  # webhook-id -> (uri, version), first arrival order
    _uris: set[str] = field(default_factory=set)

    def update(self) -> Tally:
        new = self.receiver.requests[self.read:]
        self.read += len(new)
        for request in new:
            if request.path == self.path and 200 <= request.status < 300:
                self.posts += 1
                msg_id = request.headers["webhook-id"]
                if msg_id not in self.first:
                    self.first[msg_id] = webhook_uri(request.body)
                    self._uris.add(self.first[msg_id][0])
        return self

    def uris(self) -> set[str]:
        return self.update()._uris

    def count(self) -> WebhookCount:
        self.update()
        uris: dict[str, list[str]] = {}
        for msg_id, (uri, _version) in self.first.items():
            uris.setdefault(uri, []).append(msg_id)
        return WebhookCount(self.posts, list(self.first), uris, Counter(self.first.values()))


def entry_key(msg_id: str) -> tuple[int, int]:
    """A webhook-id (``msg_<published entry id>``) as a sortable stream position."""
    ms, _, seq = msg_id.removeprefix("msg_").partition("-")
    return int(ms), int(seq or 0)


def check_deliveries(result: Result, expected: set[str], webhook: WebhookCount, sse: SseFollower, label: str = "") -> None:
    """Every expected story exactly once by delivery id, on the webhook and on the SSE stream."""
    sse_ids = [d.id for d in sse.got]
    sse_versions = Counter((d.uri, d.version) for d in sse.got)
    twice_webhook = {u: ids for u, ids in webhook.uris.items() if len(ids) > 1}
    result.figures.update({
        f"{label}expected": len(expected),
        f"{label}webhook_posts": webhook.posts,
        f"{label}webhook_ids": len(webhook.ids),
        f"{label}webhook_redelivered": webhook.posts - len(webhook.ids),
        f"{label}sse_events": len(sse.got),
        f"{label}sse_connects": sse.connects,
    })
    lost_webhook = expected - set(webhook.uris)
    lost_sse = expected - sse.uris()
    result.check(not lost_webhook,
                 f"{len(lost_webhook)} stories never reached the webhook partner, e.g. {sorted(lost_webhook)[:3]}")
    result.check(not lost_sse, f"{len(lost_sse)} stories never reached the SSE partner, e.g. {sorted(lost_sse)[:3]}")
    extra = (set(webhook.uris) | sse.uris()) - expected
    result.check(not extra, f"{len(extra)} items delivered that nobody filed, e.g. {sorted(extra)[:3]}")
    result.check(not twice_webhook, f"{len(twice_webhook)} stories reached the webhook under two delivery ids, "
                                    f"e.g. {list(twice_webhook.items())[:2]}")
    result.check(all(n == 1 for n in webhook.versions.values()), "a uri+version came twice by webhook")
    result.check(len(sse_ids) == len(set(sse_ids)), f"{len(sse_ids) - len(set(sse_ids))} SSE event ids came twice")
    result.check(all(n == 1 for n in sse_versions.values()),
                 f"{sum(n - 1 for n in sse_versions.values())} uri+version pairs came twice on SSE")
    result.check(webhook.ids == sorted(webhook.ids, key=entry_key), "webhook items arrived out of publication order")


async def settle(wire: DrillWire, quiet_s: float) -> None:
    """Let redeliveries happen if any are coming: longer than the claim idle time, and no pending entries."""
    await asyncio.sleep(quiet_s)

    async def drained() -> bool:
        for stream, group in ((Stream.FILED, Group.ENRICH), (Stream.ENRICHED, Group.PUBLISH),
                              (Stream.PUBLISHED, Group.WEBHOOKS)):
            if (await wire.r.xpending(stream_key(stream), group.value))["pending"]:
                return False
        return True

    await eventually(drained, 60, "no entries left pending")


def delivery_deadline(stories: int) -> float:
    return 120 + stories / 10  # generous: a busy 2-core machine does far better than 10 stories/s


async def probe_while_down(wire: DrillWire, token: str, article_id: str) -> dict[str, int]:
    """Other routes of both services, each asked once while Redis is down: they should all say 503."""
    editor = {"Authorization": f"Bearer {wire.editor_key}"}
    admin = {"Authorization": f"Bearer {wire.admin_key}"}
    partner = {"Authorization": f"Bearer {token}"}
    article = article_id.rsplit(":", 1)[1]
    probes = [
        ("ingest GET /health", wire.ingest_url + "/health", {}),
        ("ingest GET /v1/articles/{id}", f"{wire.ingest_url}/v1/articles/{article}", editor),
        ("publish GET /health", wire.partner_url + "/health", {}),
        ("publish GET /v1/feed", wire.partner_url + "/v1/feed", partner),
        ("publish GET /v1/stream (new connection)", wire.partner_url + "/v1/stream", partner),
        ("publish GET /v1/partner", wire.partner_url + "/v1/partner", partner),
        ("publish GET /v1/partners", wire.partner_url + "/v1/partners", admin),
    ]
    answers: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=httpx.Timeout(20)) as client:
        for label, url, headers in probes:
            try:
                async with client.stream("GET", url, headers=headers) as response:
                    answers[label] = response.status_code
                    if response.status_code == 503 and "retry-after" not in response.headers and "health" not in url:
                        answers[label] = -503  # a 503 without Retry-After
            except httpx.HTTPError as exc:
                answers[label] = -1
                say(f"  {label}: no answer ({type(exc).__name__})")
    return answers
