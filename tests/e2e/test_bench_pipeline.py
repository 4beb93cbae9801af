"""``python -m bench --quick`` runs end to end and prints its whole table (figures come from full runs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_pipeline_bench_prints_its_table() -> None:
    marker = f"bench-smoke-{uuid.uuid4().hex}"  # inherited by every process the bench starts
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "NEWSWIRE_BENCH_REDIS_URL")}
    env["NEWSWIRE_BENCH_MARKER"] = marker
    done = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=280)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-5000:]
    assert out.startswith("machine: ")
    assert "appendfsync always, AOF rewritten when it grows 100 % and is at least 64 MB" in out  # the server's defaults
    for row in ("| ingest alone: `POST /v1/articles`", "| end to end at 50 stories/s", "| end to end at 200 stories/s",
                "| end to end at 1,000 stories/s", "| highest rate sustained", "| memory (RSS) at the end",
                "| newswire: HTTP ingest", "| floor: bare redis-py loop", "| peer: Celery chain, prefork"):
        assert row in out, f"missing row {row!r} in:\n{out}"
    pauses = re.search(r"garbage collections that paused a service 10 ms or more.*\| ingest (\d+)"
                       r"(, longest \d+ ms \(\d+ ms of CPU\))?, enrich (\d+)", out)
    assert pauses is not None, out  # counted from the services' own gc.pause log lines
    rss = re.search(r"ingest (\d+) MB, enrich (\d+) MB, enrich-2 (\d+) MB, publish (\d+) MB", out)
    assert rss is not None and all(int(mb) > 0 for mb in rss.groups()), out  # two enrich processes by default
    assert "| newswire: HTTP ingest, enrich, publish, SSE (4 processes) |" in out, out
    dataset = re.search(r"dataset, per story filed through the pipeline \| ([\d.,]+) KB of memory, (?:([\d.,]+) KB "
                        r"appended to the AOF|AOF growth not measured \(the server rewrote its AOF meanwhile\)) "
                        r"\(([\d,]+) stories\)", out)
    assert dataset is not None, out  # a story is a few KB on each of three streams, more in publish's projection
    assert float(dataset.group(1).replace(",", "")) > 3 and int(dataset.group(3).replace(",", "")) > 0, out
    # each part says how many stories went through before it (the archive it searched grows part by part)
    after = {int(rate.replace(",", "")): int(n.replace(",", "")) for rate, n in
             re.findall(r"\| end to end at ([\d,]+) stories/s for [\d.]+ s, after ([\d,]+) stories", out)}
    assert set(after) == {50, 200, 1000} and 0 < after[50] < after[200] < after[1000], out  # warm-up first
    # each fixed-rate part gives its stages, and the slowest of its first second's stories in each
    stage_rows = re.findall(r"By stage, p50/p99 ms: ingest [\d.]+/[\d.]+, enrich .*; slowest of the first second's "
                            r"stories: ingest [\d.,]+, enrich [\d.,]+, publish [\d.,]+, delivery \d[\d.,]*\. CPU per story",
                            out)
    assert len(stage_rows) == 3, out
    # every story filed in the fixed-rate runs reached the partner
    for delivered, sent in re.findall(r"(\d[\d,]*) of (\d[\d,]*) delivered", out):
        assert delivered == sent, out
    assert not _processes_with(marker), "child processes outlived the bench"


def _processes_with(marker: str) -> list[int]:
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"NEWSWIRE_BENCH_MARKER={marker}".encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:  # gone, or not ours to read
            continue
    return found


@pytest.mark.timeout(200)
def test_a_rewrite_can_be_forced_into_a_fixed_rate_part_of_a_server_set_up_for_it() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "NEWSWIRE_BENCH_REDIS_URL")}
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--skip-others", "--rates", "200", "--rate-seconds", "2",
                           "--push", "100", "--search-ceiling", "0", "--aof-rewrite-min-size", "64gb",
                           "--rewrite-during", "200", "--server-config", "rdbcompression=no"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-5000:]
    assert "at least 65,536 MB, rdbcompression no" in out, out  # the settings reached the server it started
    row = next(line for line in out.splitlines() if line.startswith("| end to end at 200 stories/s"))
    assert "(with 1 AOF rewrite of the server meanwhile)" in row, out  # the forced one, and no other
