"""Start-up time of ``newswire dev`` and file-to-partner latency of single stories.

    python -m bench.latency [--stories 50]

Starts ``newswire dev`` in a temporary folder (its own Redis server), keeps one partner SSE
connection open, files stories one at a time over HTTP and times each from the start of the
``POST`` to the arrival of its item on the stream. Prints the figures and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from services.wire.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
WORDS = [
    "river", "council", "harbour", "vote", "budget", "storm", "coast", "rail", "strike", "court", "minister", "school",
    "hospital", "market", "energy", "price", "farmers", "bridge", "election", "festival", "museum", "airport", "police",
]


def story(n: int) -> dict[str, object]:
    body = " ".join(WORDS[(n * 7 + i * 3) % len(WORDS)] for i in range(350))
    return {"headline": f"Story {n}: {WORDS[n % len(WORDS)]} {WORDS[(n * 5) % len(WORDS)]} update",
            "body": f"<p>{body}.</p>", "urgency": 5}


def machine() -> str:
    """The system, the cores this process may use and their model, and Python's version."""
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux
        info = []
    cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
               platform.processor() or "unknown CPU")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.system()} {platform.machine()}, {cores} cores ({cpu}), Python {platform.python_version()}"


async def measure(ingest: str, partner: str, editor: str, token: str, count: int) -> list[float]:
    arrived: dict[str, float] = {}
    ready = asyncio.Event()
    news = asyncio.Event()

    async def follow() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as client, \
                client.stream("GET", partner + "/v1/stream", headers=headers) as response:
            ready.set()
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    arrived[json.loads(line[5:])["uri"]] = time.perf_counter()
                    news.set()

    reader = asyncio.create_task(follow())
    await ready.wait()
    await asyncio.sleep(0.2)
    latencies = []
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {editor}"}) as client:
        for n in range(count):
            started = time.perf_counter()
            response = await client.post(ingest + "/v1/articles", json=story(n))
            response.raise_for_status()
            uri = response.json()["articleId"]
            while uri not in arrived:
                news.clear()
                await news.wait()
            latencies.append((arrived[uri] - started) * 1000)
            await asyncio.sleep(0.05)  # single stories, not a load test
    reader.cancel()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        started = time.perf_counter()
        dev = subprocess.Popen([sys.executable, "-m", "services.wire.cli", "dev", "--ingest-port", str(free_port()),
                                "--publish-port", str(free_port())], cwd=tmp, env={**env, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        dev_env = Path(tmp, ".newswire", "dev.env")
        try:
            while not dev_env.exists():
                if dev.poll() is not None or time.perf_counter() - started > 120:
                    print("newswire dev did not start", file=sys.stderr)
                    return 1
                time.sleep(0.01)
            startup = time.perf_counter() - started
            values = dict(line.split("=", 1) for line in dev_env.read_text().splitlines())
            latencies = asyncio.run(measure(values["NEWSWIRE_INGEST_URL"], values["NEWSWIRE_PARTNER_URL"],
                                            values["NEWSWIRE_EDITOR_KEY"], values["NEWSWIRE_PARTNER_TOKEN"], args.stories))
        finally:
            os.killpg(dev.pid, signal.SIGINT)
            dev.wait(30)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * len(latencies)) - 1)]
    print(f"machine: {machine()}")
    print(f"newswire dev start-up (spawn to all services live, credentials written): {startup:.2f} s")
    print(f"file-to-partner latency, {len(latencies)} single stories of ~350 words (POST start to SSE arrival):")
    print(f"  p50 {statistics.median(latencies):.1f} ms   p95 {p95:.1f} ms   max {latencies[-1]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
