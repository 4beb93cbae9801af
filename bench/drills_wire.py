"""The fault drills' wire: its own Redis server (AOF on), the services as processes, partners on loopback.

Everything here is real: a Redis-compatible server we own (so it can be killed and restarted on the
same port and data directory), ``python -m services.<name>`` processes (so they can be killed with
SIGKILL), an HTTP webhook receiver, an SSE client that resumes with ``Last-Event-ID``, and an editor
that files over HTTP and retries a ``503`` with the same ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from redis.asyncio import Redis

from bench.procs import service_of
from bench.receiver import Receiver
from schemas.partners import Filters, Mode
from services.ingest.core import new_article_id
from services.publish.partners import PartnerRegistry
from services.wire.credentials import Role, issue
from services.wire.redis_server import RedisServer, free_port
from services.wire.worker import WORKERS_KEY

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("ingest", "enrich", "publish")
EDITOR = "drill-desk"

# Settings every drill runs with (printed at the start): a crashed consumer's entries are claimed
# after two seconds rather than thirty, and a dead publish process's webhook lease ends after ten.
DRILL_ENV = {
    "NEWSWIRE_CLAIM_IDLE_MS": "2000",
    "NEWSWIRE_CLAIM_INTERVAL_MS": "500",
    "NEWSWIRE_HEARTBEAT_MS": "1000",
    "NEWSWIRE_WEBHOOK_ALLOW": "loopback",
    "NEWSWIRE_WEBHOOK_CONNECT_TIMEOUT_MS": "1000",
    "NEWSWIRE_WEBHOOK_READ_TIMEOUT_MS": "3000",
    "NEWSWIRE_WEBHOOK_LEASE_MS": "10000",
    "NEWSWIRE_LOG_FORMAT": "json",
}

WORDS = [
    "river", "council", "harbour", "vote", "budget", "storm", "coast", "rail", "strike", "court", "minister", "school",
    "hospital", "market", "energy", "price", "farmers", "bridge", "election", "festival", "museum", "airport", "police",
]


def story(n: int, words: int = 120) -> dict[str, object]:
    body = " ".join(WORDS[(n * 7 + i * 3) % len(WORDS)] for i in range(words))
    return {"headline": f"Drill story {n}: {WORDS[n % len(WORDS)]} {WORDS[(n * 5) % len(WORDS)]}",
            "body": f"<p>{body}.</p>", "urgency": 5}


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float, what: str, step: float = 0.1) -> float:
    """Wait until ``check`` holds; return the seconds it took; raise naming ``what`` past ``within`` seconds."""
    started = time.monotonic()
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise DrillTimeout(f"{what}: not reached within {within:.0f}s")
        await asyncio.sleep(step)


class DrillTimeout(AssertionError):
    pass


class DrillWire:
    """A Redis server and the three services, each startable, killable and restartable."""

    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.redis_dir = workdir / "redis"
        self.server = RedisServer(self.redis_dir)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.extra_env = {**DRILL_ENV, **(extra_env or {})}
        self.ingest_port = free_port()
        self.publish_port = free_port()
        self.editor_key = ""
        self.admin_key = ""
        self.env: dict[str, str] = {}
        self.redis: Redis | None = None

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    @property
    def partner_url(self) -> str:
        return f"http://127.0.0.1:{self.publish_port}"

    @property
    def redis_url(self) -> str:
        return self.server.url

    @property
    def r(self) -> Redis:
        assert self.redis is not None
        return self.redis

    async def open(self) -> None:
        self.server.start()
        self.env = {**os.environ, **self.extra_env, "REDIS_URL": self.server.url,
                    "NEWSWIRE_INGEST_PORT": str(self.ingest_port), "NEWSWIRE_PUBLISH_PORT": str(self.publish_port),
                    "PYTHONPATH": str(ROOT)}
        self.redis = Redis.from_url(self.server.url)
        await self.issue_keys()

    async def issue_keys(self) -> None:
        self.editor_key = await issue(self.r, Role.EDITOR, EDITOR)
        self.admin_key = await issue(self.r, Role.ADMIN, "drill-admin")

    async def close(self) -> None:
        self.stop_all()
        if self.redis is not None:
            await self.redis.aclose()
        self.server.stop()

    # -- the Redis server
    def kill_redis(self) -> None:
        self.server.kill()

    def restart_redis(self, appendfsync: str = "always") -> None:
        """The same port and data directory, as a supervisor would restart it."""
        self.server = RedisServer(self.redis_dir, port=self.server.port, appendfsync=appendfsync)
        self.server.start()

    # -- the services
    def start(self, name: str) -> None:
        """Start a service by name; ``enrich-2`` is a second enrich process (the same consumer group)."""
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[name] = subprocess.Popen([sys.executable, "-m", f"services.{service_of(name)}"], env=self.env, cwd=ROOT,
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    def kill(self, name: str) -> int:
        """SIGKILL: no clean stop, no acks. Returns the pid that was killed."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait()
        return proc.pid

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def exited(self) -> dict[str, int]:
        """Services that have exited by themselves, with their exit codes."""
        return {name: code for name, proc in self.procs.items() if (code := proc.poll()) is not None}

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    async def wait_ready(self, within: float = 90) -> None:
        async def ready() -> bool:
            if gone := self.exited():
                name = next(iter(gone))
                raise RuntimeError(f"{name} exited with {gone[name]}:\n{self.log_tail(name)}")
            return await self._healthy() and await self._workers_live()

        await eventually(ready, within, "the services answering /health with live workers", step=0.1)

    async def _healthy(self) -> bool:
        urls = [self.ingest_url] if "ingest" in self.procs else []
        urls += [self.partner_url] if "publish" in self.procs else []
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                for url in urls:
                    if (await client.get(url + "/health")).status_code != 200:
                        return False
                return True
        except httpx.HTTPError:
            return False

    async def _workers_live(self) -> bool:
        try:
            names = [text(k) for k in await self.r.hkeys(WORKERS_KEY)]  # type: ignore[misc]
        except Exception:
            return False
        for name, proc in self.procs.items():
            group = service_of(name)
            if group in ("enrich", "publish"):
                pid = str(proc.pid)
                if not any(n.startswith(group + "-") and n.rsplit("-", 1)[1] == pid for n in names):
                    return False
        return True

    # -- partners
    async def register(self, name: str, modes: list[Mode], webhook_url: str | None = None) -> str:
        """A partner that gets every item; returns its bearer token."""
        _, token, _ = await PartnerRegistry(self.r).register(name, modes=modes, filters=Filters(), webhook_url=webhook_url,
                                                             actor="drill", now=datetime.now(UTC))
        return token

    def article_id(self, idempotency_key: str) -> str:
        """The article id ingest derives from an idempotency key (a retry gets the same one)."""
        return new_article_id(EDITOR, idempotency_key, uuid.uuid4())


@dataclass
class SseDelivery:
    id: str
    uri: str
    version: str
    item: dict[str, Any]
    at: float  # time.monotonic() at arrival


@dataclass
class SseFollower:
    """A partner's SSE client: reads forever and, when the connection drops, resumes with ``Last-Event-ID``."""

    url: str
    token: str
    got: list[SseDelivery] = field(default_factory=list)
    connects: int = 0
    last_id: str = "0-0"
    _uris: set[str] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def uris(self) -> set[str]:
        return self._uris

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError, OSError, AssertionError):
                await self._read()
            await asyncio.sleep(0.2)

    async def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream", "Last-Event-ID": self.last_id}
        async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=15)) as client, \
                client.stream("GET", self.url + "/v1/stream", headers=headers) as response:
            assert response.status_code == 200
            self.connects += 1
            current: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line == "":
                    if "data" in current:
                        item = json.loads(current["data"])
                        self.got.append(SseDelivery(current.get("id", ""), item["uri"], str(item.get("version", "")), item,
                                                    time.monotonic()))
                        self._uris.add(item["uri"])
                        self.last_id = current.get("id", self.last_id)
                    current = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    current[name] = value[1:] if value.startswith(" ") else value


@dataclass
class Filing:
    key: str
    article_id: str
    status: int = 0
    tries: int = 0
    at: float = 0.0  # time.monotonic() of the final answer


@dataclass
class Editor:
    """Files stories over HTTP; a ``503`` is retried after its ``Retry-After`` with the same key."""

    wire: DrillWire
    filings: list[Filing] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)  # every answer, counted by status
    unavailable: dict[str, int] = field(default_factory=dict)  # 503s by problem type ("durability", ...)
    retry_after_missing: int = 0  # 503s without Retry-After
    transport_errors: int = 0  # no HTTP answer at all from ingest

    def accepted(self) -> list[Filing]:
        return [f for f in self.filings if f.status == 202]

    async def file_many(self, numbers: range, *, concurrency: int = 4, rate: float | None = None,
                        prefix: str = "drill", until: asyncio.Event | None = None) -> None:
        """File ``numbers`` (at ``rate`` a second if given), or until ``until`` is set."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in numbers:
            queue.put_nowait(n)
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=httpx.Timeout(10), limits=httpx.Limits(max_connections=concurrency)) as client:
            async def work() -> None:
                while not queue.empty() and not (until is not None and until.is_set()):
                    n = queue.get_nowait()
                    if rate:
                        delay = started + (n - numbers.start) / rate - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    await self.file_one(client, n, prefix)

            await asyncio.gather(*(work() for _ in range(concurrency)))

    async def file_one(self, client: httpx.AsyncClient, n: int, prefix: str = "drill",
                       body: dict[str, object] | None = None) -> Filing:
        key = f"{prefix}-{n}"
        filing = Filing(key, self.wire.article_id(key))
        self.filings.append(filing)
        headers = {"Authorization": f"Bearer {self.wire.editor_key}", "Idempotency-Key": key}
        while True:
            filing.tries += 1
            try:
                response = await client.post(self.wire.ingest_url + "/v1/articles", json=body or story(n), headers=headers)
            except httpx.HTTPError:
                self.transport_errors += 1
                await asyncio.sleep(0.5)
                continue
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.status_code == 503:
                kind = str(response.json().get("type", "")).rsplit("/", 1)[-1]
                self.unavailable[kind] = self.unavailable.get(kind, 0) + 1
                retry_after = response.headers.get("retry-after")
                if retry_after is None:
                    self.retry_after_missing += 1
                await asyncio.sleep(min(float(retry_after or 1), 2.0))
                continue
            filing.status = response.status_code
            filing.at = time.monotonic()
            if response.status_code == 202:
                assert response.json()["articleId"] == filing.article_id
            return filing


class Stoppable(Protocol):
    async def stop(self) -> None: ...


async def close_drill(wire: DrillWire, *parts: Stoppable | None) -> None:
    """A drill's teardown: stop its partners in the order given (None: one never started), then its wire."""
    for part in parts:
        if part is not None:
            await part.stop()
    await wire.close()


async def start_receiver(port: int = 0) -> Receiver:
    return await Receiver(port=port).start()


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def webhook_uri(body: bytes) -> tuple[str, str]:
    data = json.loads(body)["data"]
    return str(data["uri"]), str(data["version"])
