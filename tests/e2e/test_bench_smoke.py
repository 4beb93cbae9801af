"""The benchmarks still run: each once, tiny, as a smoke test (figures come from full runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("module", "args", "needle"),
    [
        ("bench.latency", ["--stories", "3"], "file-to-partner latency"),
        ("bench.sse", ["--partners", "5", "--rate", "20", "--seconds", "1"], "deliveries 100 of 100"),
        ("bench.webhooks", ["--partners", "5", "--items", "2"], "ms"),
        ("bench.dispatch", ["--entries", "200"], "(uvloop event loop)"),
        ("bench.dispatch", ["--entries", "200", "--loop", "asyncio"], "(asyncio event loop)"),
    ],
)
def test_benchmark_runs(module: str, args: list[str], needle: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "machine:" in done.stdout
    assert needle in done.stdout


@pytest.mark.parametrize(
    ("module", "args", "needle"),
    [
        ("bench.gc_pause", ["--items", "500", "--distinct", "20", "--repeat", "2"], "full collection: best"),
        ("bench.gc_pause", ["--archive", "50", "--repeat", "2"], "enricher with 50 stories indexed"),
        ("bench.startup", ["--repeat", "1"], "enrich   ready in"),
        ("bench.warmth", ["--stories", "20", "--pause-ms", "1", "--batch", "5"], "5 at a time, step by step"),
        ("bench.rewrite", ["--entries", "300", "--rate", "50", "--seconds", "0.2"], "second rewrite"),
    ],
)
def test_process_benchmark_runs(module: str, args: list[str], needle: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert needle in done.stdout
