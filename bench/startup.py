"""How long each service takes from its process start to ready, on an empty log.

    python -m bench.startup [--repeat 3]

Starts a server of its own (or uses ``NEWSWIRE_BENCH_REDIS_URL``), then each service in turn as its
own process, as ``newswire dev`` and the compose file do, and times it until it is ready: the HTTP
services until ``/health`` answers 200, the workers until they log ``worker.started``. A restart
after a crash takes at least this long before the service takes work again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from services.wire.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
PORTS = {"ingest": "NEWSWIRE_INGEST_PORT", "publish": "NEWSWIRE_PUBLISH_PORT"}


def time_to_ready(name: str, redis_url: str) -> float:
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "NEWSWIRE_LOG_FORMAT": "json", "PYTHONPATH": str(ROOT),
           PORTS.get(name, "NEWSWIRE_UNUSED_PORT"): str(port)}
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        if name in PORTS:
            while proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                        if answer.status == 200:
                            return time.monotonic() - began
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.01)
        else:
            for line in proc.stdout:
                if b"worker.started" in line:
                    return time.monotonic() - began
        raise RuntimeError(f"{name} exited with {proc.wait()} before it was ready")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    given = os.environ.get("NEWSWIRE_BENCH_REDIS_URL")
    server = None if given else RedisServer(Path(tempfile.mkdtemp(prefix="newswire-startup-")) / "redis")
    url = given or server.start()  # type: ignore[union-attr]
    try:
        for name in ("ingest", "enrich", "publish"):
            times = [time_to_ready(name, url) for _ in range(args.repeat)]
            print(f"{name:8} ready in {min(times):.2f} s best, {statistics.median(times):.2f} s median "
                  f"({', '.join(f'{t:.2f}' for t in times)})", flush=True)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
