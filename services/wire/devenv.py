"""``newswire dev``: the whole wire on one machine, with a Redis server it starts itself."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import redis

from schemas.partners import Filters
from services.wire.credentials import Role, issue
from services.wire.eventlog import connect
from services.wire.redis_server import RedisServer, ServerNotFound
from services.wire.settings import Settings
from services.wire.worker import WORKERS_KEY

SERVICES = ("ingest", "enrich", "publish")
DEMO_PARTNER = "demo-partner"


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url.split('/health')[0]} exited with status {proc.returncode} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback URL we built
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not become healthy within {timeout:.0f}s")


def _wait_workers(settings: Settings, procs: dict[str, subprocess.Popen[bytes]], timeout: float) -> None:
    """Until the enrich and publish processes have each reported a live consumer."""

    async def live() -> set[str]:
        redis = connect(settings)
        try:
            names = await redis.hkeys(WORKERS_KEY)  # type: ignore[misc]
        finally:
            await redis.aclose()
        return {n.decode() if isinstance(n, bytes) else n for n in names}

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = asyncio.run(live())
        waiting = [g for g in ("enrich", "publish")
                   if not any(n.startswith(f"{g}-") and n.endswith(f"-{procs[g].pid}") for n in names)]
        if not waiting:
            return
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with status {proc.returncode} during start-up")
        time.sleep(0.05)
    raise RuntimeError(f"{', '.join(waiting)} did not start within {timeout:.0f}s")


async def _demo_credentials(settings: Settings) -> tuple[str, str, str]:
    """An editor key, a partner (all items, stream and feed) and an admin key for the demo."""
    from services.publish.partners import PartnerRegistry

    redis = connect(settings)
    try:
        editor = await issue(redis, Role.EDITOR, "demo-editor", replace=True)
        admin = await issue(redis, Role.ADMIN, "demo-admin", replace=True)
        registry = PartnerRegistry(redis)
        now = datetime.now(UTC)
        if await registry.get(DEMO_PARTNER) is None:
            _, partner, _ = await registry.register(DEMO_PARTNER, modes=["sse", "feed"], filters=Filters(),
                                                    webhook_url=None, actor="newswire dev", now=now)
        else:
            partner = await issue(redis, Role.PARTNER, DEMO_PARTNER, replace=True)
    finally:
        await redis.aclose()
    return editor, partner, admin


def _port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now. ``SO_REUSEADDR`` as uvicorn binds, so the
    closed connections of a wire that just stopped (``TIME_WAIT``) do not count as in use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _unreachable(redis_url: str) -> str | None:
    """Why the server at ``redis_url`` does not answer a ``PING``, or ``None`` when it does."""
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    except ValueError as exc:  # not a redis:// URL at all
        return str(exc)
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc)
    finally:
        client.close()
    return None


def run_dev(data_dir: Path, ingest_port: int, publish_port: int) -> int:
    started = time.monotonic()
    # Ctrl-C stops the wire even when this process was started with SIGINT ignored (a shell's
    # background job, nohup): the services handle SIGINT themselves, and without this the first
    # sign of it here would be a service exiting, taken for a crash.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for port, flag in ((ingest_port, "--ingest-port"), (publish_port, "--publish-port")):
        if not _port_free(port):
            print(f"newswire dev: port {port} is in use (another newswire dev?); choose another with {flag}",
                  file=sys.stderr)
            return 2
    redis_url = os.environ.get("REDIS_URL")
    env = {
        **os.environ,
        "NEWSWIRE_INGEST_PORT": str(ingest_port),
        "NEWSWIRE_PUBLISH_PORT": str(publish_port),
        "NEWSWIRE_WEBHOOK_ALLOW": os.environ.get("NEWSWIRE_WEBHOOK_ALLOW", "loopback"),  # receivers on this machine
    }
    if redis_url:
        env.setdefault("NEWSWIRE_DURABILITY", "none")  # a server we did not start: its own settings apply
    settings = Settings.from_env(env)  # a bad setting is refused (SettingsError) before the server starts
    if redis_url and (problem := _unreachable(redis_url)):
        print(f"newswire dev: cannot reach the server REDIS_URL names ({problem}); start it, or unset REDIS_URL "
              "and newswire dev starts a server of its own", file=sys.stderr)
        return 2
    data_dir.mkdir(parents=True, exist_ok=True)
    server: RedisServer | None = None
    if not redis_url:
        try:
            server = RedisServer(data_dir / "redis")
        except ServerNotFound as exc:
            print(f"newswire dev: {exc}", file=sys.stderr)
            return 2
        redis_url = server.start()
        print(f"redis      {server.binary.name} on {redis_url} (AOF, appendfsync always) in {server.data_dir}")
    env["REDIS_URL"] = redis_url
    settings = dataclasses.replace(settings, redis_url=redis_url)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in SERVICES:
            procs[name] = subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=env)
        ingest_url = f"http://127.0.0.1:{ingest_port}"
        partner_url = f"http://127.0.0.1:{publish_port}"
        _wait_http(ingest_url + "/health", procs["ingest"], 30)
        _wait_http(partner_url + "/health", procs["publish"], 30)
        _wait_workers(settings, procs, 60)
        editor_key, partner_token, admin_key = asyncio.run(_demo_credentials(settings))
        lines = {
            "NEWSWIRE_INGEST_URL": ingest_url,
            "NEWSWIRE_PARTNER_URL": partner_url,
            "NEWSWIRE_EDITOR_KEY": editor_key,
            "NEWSWIRE_PARTNER_TOKEN": partner_token,
            "NEWSWIRE_ADMIN_KEY": admin_key,
            "NEWSWIRE_WEBHOOK_ALLOW": env["NEWSWIRE_WEBHOOK_ALLOW"],
            "REDIS_URL": redis_url,
        }
        env_file = data_dir / "dev.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        env_file.chmod(0o600)
        print(f"ingest     {ingest_url}  (API docs {ingest_url}/docs)")
        print(f"partners   {partner_url}/v1/stream  (API docs {partner_url}/docs)")
        print(f"editor key {editor_key}")
        print(f"partner    {partner_token}  ({DEMO_PARTNER}: every item, by stream and feed)")
        print(f"admin key  {admin_key}")
        print(f"written to {env_file}; the wire is up in {time.monotonic() - started:.1f}s. Ctrl-C stops it.")
        print("try: newswire tail   (in another terminal), then: newswire file STORY.txt", flush=True)
        return _supervise(procs)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(f"newswire dev: {exc}", file=sys.stderr)
        return 1
    finally:
        _stop_all(procs)
        if server is not None:
            server.stop()
        print("newswire dev: stopped", file=sys.stderr)


def _supervise(procs: dict[str, subprocess.Popen[bytes]]) -> int:
    """Wait for Ctrl-C or SIGTERM; a service that dies is reported and the wire is stopped."""
    stop = {"now": False}

    def on_term(_signum: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_term)
    while not stop["now"]:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"newswire dev: {name} exited with status {proc.returncode}; stopping", file=sys.stderr)
                return 1
        time.sleep(0.2)
    return 0


def _stop_all(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
