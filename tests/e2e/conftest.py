"""The wire as real processes: ingest, enrich and publish on the session's Redis server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis as SyncRedis

from services.wire.credentials import Role, issue
from services.wire.redis_server import free_port
from services.wire.worker import WORKERS_KEY

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Wire:
    redis_url: str
    env: dict[str, str]
    ingest_url: str
    partner_url: str
    editor_key: str = ""
    partner_token: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: Path = ROOT

    def start(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[name] = subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=self.env, cwd=ROOT,
                                            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self, name: str) -> None:
        """SIGKILL: no clean stop, no acks, no goodbye."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        redis = SyncRedis.from_url(self.redis_url)
        try:
            while time.monotonic() < deadline:
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name} exited: {(self.logs / f'{name}.log').read_text()[-3000:]}")
                if self._healthy() and self._workers_live(redis):
                    return
                time.sleep(0.05)
        finally:
            redis.close()
        raise RuntimeError("the wire did not come up in time")

    def _healthy(self) -> bool:
        urls = [self.ingest_url] if "ingest" in self.procs else []
        urls += [self.partner_url] if "publish" in self.procs else []
        try:
            return all(httpx.get(u + "/health", timeout=1).status_code == 200 for u in urls)
        except httpx.HTTPError:
            return False

    def _workers_live(self, redis: SyncRedis) -> bool:
        names = [k.decode() for k in redis.hkeys(WORKERS_KEY)]  # type: ignore[union-attr]
        want = [g for g in ("enrich", "publish") if g in self.procs]
        pids = {str(self.procs[g].pid) for g in want}
        return all(any(n.startswith(g + "-") and n.rsplit("-", 1)[1] in pids for n in names) for g in want)

    def file(self, story: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.editor_key}", "Idempotency-Key": key or os.urandom(8).hex()}
        response = httpx.post(self.ingest_url + "/v1/articles", json=story, timeout=10, headers=headers)
        assert response.status_code == 202, response.text
        return dict(response.json())


@pytest.fixture
def wire(redis_url: str, tmp_path: Path) -> Iterator[Wire]:
    redis = SyncRedis.from_url(redis_url)
    redis.flushdb()
    ingest_port, publish_port = free_port(), free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "NEWSWIRE_INGEST_PORT": str(ingest_port),
        "NEWSWIRE_PUBLISH_PORT": str(publish_port),
        "NEWSWIRE_CLAIM_IDLE_MS": "1000",
        "NEWSWIRE_CLAIM_INTERVAL_MS": "200",
        "NEWSWIRE_HEARTBEAT_MS": "500",
        "NEWSWIRE_LOG_FORMAT": "json",
    }
    wire = Wire(redis_url, env, f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{publish_port}", logs=tmp_path)
    wire.editor_key = asyncio.run(_issue(redis_url, Role.EDITOR, "e2e-desk"))
    wire.partner_token = asyncio.run(_register(redis_url, "e2e-outlet"))
    for name in ("ingest", "enrich", "publish"):
        wire.start(name)
    try:
        wire.wait_ready()
        yield wire
    finally:
        wire.stop_all()
        redis.close()


async def _issue(redis_url: str, role: Role, name: str) -> str:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        return await issue(client, role, name)
    finally:
        await client.aclose()


async def _register(redis_url: str, name: str) -> str:
    from datetime import UTC, datetime

    from redis.asyncio import Redis

    from schemas.partners import Filters
    from services.publish.partners import PartnerRegistry

    client = Redis.from_url(redis_url)
    try:
        _, token, _ = await PartnerRegistry(client).register(name, modes=["sse", "feed"], filters=Filters(),
                                                             webhook_url=None, actor="test", now=datetime.now(UTC))
        return token
    finally:
        await client.aclose()


@dataclass
class SseEvent:
    id: str
    event: str
    data: dict[str, Any]


async def read_sse(url: str, token: str, *, count: int, last_event_id: str | None = None,
                   timeout: float = 20, quiet_after: float | None = None) -> list[SseEvent]:
    """Read ``count`` events (or until ``quiet_after`` seconds pass with none); fail on timeout."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    got: list[SseEvent] = []

    async def run() -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as client, \
                client.stream("GET", url + "/v1/stream", headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            current: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line == "":
                    if "data" in current:
                        got.append(SseEvent(current.get("id", ""), current.get("event", ""), json.loads(current["data"])))
                        if len(got) >= count:
                            return
                    current = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    current[name] = value[1:] if value.startswith(" ") else value

    try:
        await asyncio.wait_for(run(), quiet_after or timeout)
    except TimeoutError:
        if quiet_after is None:
            raise AssertionError(f"got {len(got)} of {count} events before the timeout") from None
    return got

