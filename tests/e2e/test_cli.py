"""``newswire dev``, ``file`` and ``tail`` as a newcomer uses them, and a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.wire.redis_server import free_port
from tests.fixtures import RUSSIA_LEAVES_BELARUS

pytestmark = pytest.mark.e2e
NEWSWIRE = [sys.executable, "-m", "services.wire.cli"]
ROOT = Path(__file__).resolve().parents[2]


def test_dev_file_tail_and_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("NEWSWIRE_")}
    env["PYTHONPATH"] = str(ROOT)
    dev = subprocess.Popen([*NEWSWIRE, "dev", "--ingest-port", str(free_port()), "--publish-port", str(free_port())],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    dev_env = tmp_path / ".newswire" / "dev.env"
    try:
        deadline = time.monotonic() + 60
        while not dev_env.exists() and time.monotonic() < deadline:
            assert dev.poll() is None, dev.stdout.read().decode() if dev.stdout else ""
            time.sleep(0.05)
        values = dict(line.split("=", 1) for line in dev_env.read_text().splitlines())
        assert set(values) >= {"NEWSWIRE_INGEST_URL", "NEWSWIRE_PARTNER_URL", "NEWSWIRE_EDITOR_KEY", "NEWSWIRE_PARTNER_TOKEN"}
        assert values["NEWSWIRE_EDITOR_KEY"].startswith("nwe_")

        tail = subprocess.Popen([*NEWSWIRE, "tail", "--json", "--count", "1", "--last-event-id", "0-0"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        story = tmp_path / "story.json"
        story.write_text(json.dumps(RUSSIA_LEAVES_BELARUS))
        filed = subprocess.run([*NEWSWIRE, "file", str(story)], cwd=tmp_path, env=env, capture_output=True, timeout=30)
        assert filed.returncode == 0, filed.stdout + filed.stderr
        article_id = json.loads(filed.stdout)["articleId"]
        out, _ = tail.communicate(timeout=30)
        item = json.loads(out.splitlines()[0])
        assert item["uri"] == article_id
        assert "Wagner Group" in {o["name"] for o in item["organisations"]}

        def run(*args: str) -> subprocess.CompletedProcess[bytes]:
            return subprocess.run([*NEWSWIRE, *args], cwd=tmp_path, env=env, capture_output=True, timeout=30)

        updated = run("update", article_id, str(story), "--version", "1")
        assert updated.returncode == 0, updated.stdout + updated.stderr
        assert json.loads(updated.stdout)["version"] == 2
        stale = run("update", article_id, str(story), "--version", "1")
        assert stale.returncode == 1
        assert json.loads(stale.stdout)["status"] == 412
        killed = run("kill", article_id.rsplit(":", 1)[1], "--reason", "test over")
        assert killed.returncode == 0, killed.stdout + killed.stderr
        events = run("article", article_id, "--events")
        assert events.returncode == 0
        assert "article.killed.v2" in {e["event"]["type"] for e in json.loads(events.stdout)}
    finally:
        os.killpg(dev.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        output = dev.communicate(timeout=30)[0].decode()
    assert dev.returncode == 0, output
    assert "stopped" in output
    leftovers = subprocess.run(["pgrep", "-s", str(dev.pid)], capture_output=True, text=True).stdout.split()
    assert leftovers == []


def test_dev_says_which_port_is_taken(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([*NEWSWIRE, "dev", "--ingest-port", str(port), "--publish-port", str(free_port())],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert f"port {port} is in use" in done.stderr
    assert not (tmp_path / ".newswire" / "redis").exists()  # nothing was started
