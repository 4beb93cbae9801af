"""CLI commands that talk to Redis: keys, partners, health, dead letters."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from redis.asyncio import Redis

from services.wire.worker import WORKERS_KEY


def newswire(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": redis_url}
    return subprocess.run([sys.executable, "-m", "services.wire.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


async def test_keys_create_prints_once_and_lists_without_secrets(redis: Redis, redis_url: str) -> None:
    created = newswire(redis_url, "keys", "create", "--role", "editor", "--name", "night-desk")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("nwe_")
    assert "shown only once" in created.stderr
    again = newswire(redis_url, "keys", "create", "--role", "editor", "--name", "night-desk")
    assert again.returncode == 1
    assert "exists" in again.stderr
    listed = newswire(redis_url, "keys", "list")
    assert "night-desk" in listed.stdout
    assert secret not in listed.stdout
    partner = newswire(redis_url, "partners", "create", "--name", "outlet", "--place", "Belarus", "--min-urgency", "4")
    assert partner.returncode == 0, partner.stderr
    assert partner.stdout.split()[1].startswith("nwp_")
    shown = newswire(redis_url, "partners", "show", "outlet")
    assert '"places":["Belarus"]' in shown.stdout
    assert '"minUrgency":4' in shown.stdout
    assert newswire(redis_url, "partners", "pause", "outlet").returncode == 0
    assert "paused" in newswire(redis_url, "partners", "list").stdout
    assert newswire(redis_url, "partners", "remove", "outlet").returncode == 0
    assert "outlet" not in newswire(redis_url, "partners", "list").stdout
    refused = newswire(redis_url, "partners", "create", "--name", "hooked", "--mode", "webhook")
    assert refused.returncode == 1
    assert "webhook URL" in refused.stderr
    bad = newswire(redis_url, "keys", "create", "--name", "has space")
    assert bad.returncode == 1


async def test_health_reports_live_workers_only(redis: Redis, redis_url: str) -> None:
    assert newswire(redis_url, "health", "enrich").returncode == 1
    host = socket.gethostname()
    await redis.hset(WORKERS_KEY, f"enrich-{host}-4242", int(time.time() * 1000))
    await redis.hset(WORKERS_KEY, f"publish-{host}-4243", int(time.time() * 1000) - 60_000)  # stale
    local = newswire(redis_url, "health", "enrich", "--local")
    assert local.returncode == 0, local.stdout + local.stderr
    assert newswire(redis_url, "health", "publish").returncode == 1
