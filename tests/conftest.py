"""Shared fixtures: a real Redis-compatible server for the whole session (never a fake)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from redis.asyncio import Redis
from referencing import Registry, Resource

from services.wire.redis_server import RedisServer

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``NEWSWIRE_TEST_REDIS_URL`` (a throwaway server: tests flush it), else one we start."""
    given = os.environ.get("NEWSWIRE_TEST_REDIS_URL")
    if given:
        yield given
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def ninjs_validator() -> Draft202012Validator:
    schema = json.loads((SCHEMAS / "ninjs-schema_3.1.json").read_text(encoding="utf-8"))
    geojson = json.loads((SCHEMAS / "GeoJSON-schema.json").read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(
        "https://geojson.org/schema/GeoJSON.json", Resource.from_contents(geojson)
    )
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
