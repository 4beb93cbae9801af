"""A real HTTP/1.1 webhook receiver on loopback for the benchmarks, the drills and the webhook tests (stdlib asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float  # time.monotonic()


@dataclass
class Receiver:
    """Answers ``POST``s: per path a script of statuses to answer first (then 200), or never (``hang``)."""

    port: int = 0
    scripts: dict[str, list[int]] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path and 200 <= r.status < 300]

    def attempts(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and drop every open connection (the port then refuses connections)."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 5)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.connections += 1
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _method, path, _version = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    key, value = header.decode().split(":", 1)
                    headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if path in self.hang:
                    await reader.read()  # until the sender gives up and closes
                    return
                script = self.scripts.get(path)
                status = script.pop(0) if script else 200
                self.requests.append(Request(path, headers, body, status, time.monotonic()))
                self.arrived.set()
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
