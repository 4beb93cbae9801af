"""``newswire partners redrive|replay|deliveries`` as registered by the webhooks CLI, on a real server."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from schemas.partners import Filters
from services.publish.partners import PartnerRegistry
from services.publish.webhooks.cli import register


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="newswire")
    partners = top.add_subparsers(dest="command", required=True).add_parser("partners")
    register(partners.add_subparsers(dest="action", required=True))
    return top


async def _register(redis_url: str, name: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await PartnerRegistry(redis).register(name, modes=["webhook"], filters=Filters(),
                                              webhook_url="http://127.0.0.1:9/hook", actor="test", now=datetime.now(UTC))
    finally:
        await redis.aclose()


def test_partner_webhook_commands(redis_url: str, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    name = f"cli-{uuid.uuid4().hex[:8]}"
    asyncio.run(_register(redis_url, name))

    def run(*argv: str) -> int:
        args = parser().parse_args(["partners", *argv])
        return int(args.func(args))

    assert run("redrive", name) == 0
    assert f"0 dead letters back in the queue of {name}" in capsys.readouterr().out
    assert run("replay", name, "--since", "2020-01-01T00:00:00Z") == 0
    assert f"queued again for {name}" in capsys.readouterr().out
    assert run("deliveries", name) == 0
    assert run("deliveries", "nobody-" + name) == 1
    assert "no partner named" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser().parse_args(["partners", "replay", name, "--since", "2020-01-01T00:00:00"])  # no time zone
