"""An open-loop HTTP load generator and a partner SSE client, on plain asyncio sockets.

Plain sockets (no HTTP library) keep the client's own CPU per request small, so on a machine
shared with the services the generator is not what limits the rate. Requests go out on a fixed
schedule whatever the answers do (open loop); latency is counted from each request's scheduled
time, so a generator that falls behind shows up as latency, not as a lower rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

DATA_PREFIX = b'data: {"uri":"'


@dataclass
class Sent:
    """One request: its story number, its scheduled and actual send times, its answer."""

    n: int
    scheduled: float
    sent: float = 0.0
    done: float = 0.0
    status: int = 0


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads the status."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    async def request(self, raw: bytes) -> int:
        if self.writer is None or self.reader is None:
            await self.open()
        assert self.writer is not None and self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        if b"connection: close" in head.lower():
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _send(conn: Connection, item: Sent, request: bytes) -> None:
    """Send one request; its status (-1: no answer, the connection is dropped) and when it was answered."""
    try:
        item.status = await conn.request(request)
    except (OSError, asyncio.IncompleteReadError, ValueError):
        item.status = -1
        conn.close()
    item.done = time.perf_counter()


async def _drive(port: int, make: Callable[[int], bytes], queue: asyncio.Queue[Sent | None],
                 results: list[Sent]) -> None:
    conn = Connection("127.0.0.1", port)
    try:
        while (item := await queue.get()) is not None:
            item.sent = time.perf_counter()
            await _send(conn, item, make(item.n))
            results.append(item)
    finally:
        conn.close()


async def open_loop(port: int, make: Callable[[int], bytes], first: int, count: int, rate: float,
                    connections: int = 64) -> list[Sent]:
    """Send ``count`` requests (story numbers ``first``...) at ``rate`` per second over a pool of connections."""
    queue: asyncio.Queue[Sent | None] = asyncio.Queue()
    results: list[Sent] = []
    drivers = [asyncio.create_task(_drive(port, make, queue, results)) for _ in range(connections)]
    start = time.perf_counter() + 0.01
    issued = 0
    while issued < count:
        now = time.perf_counter()
        due = min(count, int((now - start) * rate) + 1) if now >= start else 0
        while issued < due:
            queue.put_nowait(Sent(first + issued, start + issued / rate))
            issued += 1
        if issued < count:
            await asyncio.sleep(max(0.0005, start + issued / rate - time.perf_counter()))
    for _ in drivers:
        queue.put_nowait(None)
    await asyncio.gather(*drivers)
    return results


async def closed_loop(port: int, make: Callable[[int], bytes], first: int, *, connections: int,
                      seconds: float | None = None, count: int | None = None) -> list[Sent]:
    """As fast as the server answers: each connection sends its next request when the last is answered."""
    results: list[Sent] = []
    counter = iter(range(first, first + (count if count is not None else 1 << 62)))
    stop_at = time.perf_counter() + seconds if seconds is not None else float("inf")

    async def one() -> None:
        conn = Connection("127.0.0.1", port)
        try:
            for n in counter:
                if time.perf_counter() >= stop_at:
                    return
                item = Sent(n, time.perf_counter())
                item.sent = item.scheduled
                await _send(conn, item, make(n))
                results.append(item)
        finally:
            conn.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return results


@dataclass
class Follower:
    """A partner's SSE connection that notes when each item (by its ``uri``) arrives."""

    port: int
    token: str
    arrivals: dict[str, float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(ready))
        await asyncio.wait_for(ready, 30)

    async def _run(self, ready: asyncio.Future[None]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 22)
        writer.write(f"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.token}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        status = await reader.readline()
        if b" 200 " not in status:
            ready.set_exception(RuntimeError(f"stream refused: {status!r}"))
            return
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        ready.set_result(None)
        arrivals = self.arrivals
        try:
            while line := await reader.readline():
                if line.startswith(DATA_PREFIX):
                    end = line.index(b'"', len(DATA_PREFIX))
                    arrivals[line[len(DATA_PREFIX):end].decode()] = time.perf_counter()
                    self.changed.set()
        finally:
            writer.close()

    async def wait_for(self, uris: list[str], within: float) -> bool:
        """Wait until every one of ``uris`` has arrived; False if ``within`` seconds pass first."""
        deadline = time.perf_counter() + within
        missing = [u for u in uris if u not in self.arrivals]
        while missing:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))
            missing = [u for u in missing if u not in self.arrivals]
        return True

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
