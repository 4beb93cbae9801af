"""What the server holds for the wire, by kind of key, in all and per story on the log.

    python -m bench.dataset [--url URL] [--partitions N]

Walks every key of the db (``SCAN``), asks the server for each key's whole ``MEMORY USAGE``
(``SAMPLES 0``: every element counted), groups the keys by kind (the key with its article id,
idempotency hash or partner name replaced: ``nw:{p<N>}:item:<article>``) and prints each kind's
keys, megabytes and bytes per story, a story being an entry on the filed streams. Run it against
a server the wire has filed stories on: ``REDIS_URL`` (or ``--url``) names it. It only reads.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from dataclasses import dataclass

from redis.asyncio import Redis

from bench.pipeline import filed_stories
from schemas.streams import PREFIX
from services.wire.settings import Settings

_TAG = re.compile(r"^(?P<prefix>[^:]+):\{(?P<tag>[^}]*)\}:(?P<rest>.*)$")


@dataclass(frozen=True)
class Kind:
    name: str
    keys: int
    bytes: int


def kind_of(key: str) -> str:
    """The kind of a key: its partition as ``{p<N>}``, a partner as ``{partner:<name>}``, an article id
    (from its ``urn:`` on) as ``<article>`` and an idempotency hash as ``<key>``."""
    match = _TAG.match(key)
    if match is None or match["prefix"] != PREFIX:
        return "(not the wire's)"
    tag = match["tag"]
    if re.fullmatch(r"p\d+", tag):
        tag = "p<N>"
    elif tag.startswith("partner:"):
        tag = "partner:<name>"
    rest = match["rest"]
    if "urn:" in rest:
        rest = rest[: rest.index("urn:")] + "<article>"
    elif rest.startswith("idem:"):
        rest = "idem:<key>"
    return f"{PREFIX}:{{{tag}}}:{rest}"


async def measure(redis: Redis, partitions: int, batch: int = 1000) -> tuple[list[Kind], int]:
    """Every kind of key with its key count and bytes (largest first), and the stories on the log."""
    keys_of: dict[str, int] = {}
    bytes_of: dict[str, int] = {}
    pending: list[str] = []

    async def flush() -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for key in pending:
                pipe.memory_usage(key, samples=0)
            sizes = await pipe.execute()
        for key, size in zip(pending, sizes, strict=True):
            kind = kind_of(key)
            keys_of[kind] = keys_of.get(kind, 0) + 1
            bytes_of[kind] = bytes_of.get(kind, 0) + int(size or 0)  # None: gone since the scan
        pending.clear()

    async for raw in redis.scan_iter(count=batch):
        pending.append(raw.decode() if isinstance(raw, bytes) else str(raw))
        if len(pending) >= batch:
            await flush()
    if pending:
        await flush()
    stories = await filed_stories(redis, partitions)
    kinds = [Kind(name, keys_of[name], bytes_of[name]) for name in keys_of]
    kinds.sort(key=lambda k: (-k.bytes, k.name))
    return kinds, stories


def render(kinds: list[Kind], stories: int) -> str:
    total = sum(k.bytes for k in kinds)
    out = [f"{stories:,} stories on the filed streams; {total / 1e6:,.1f} MB in {sum(k.keys for k in kinds):,} keys"
           + (f", {total / stories:,.0f} bytes per story" if stories else ""), "",
           "| kind of key | keys | MB | bytes per story | share |", "|---|---:|---:|---:|---:|"]
    for k in kinds:
        per_story = f"{k.bytes / stories:,.0f}" if stories else "-"
        out.append(f"| `{k.name}` | {k.keys:,} | {k.bytes / 1e6:,.2f} | {per_story} | {100 * k.bytes / max(1, total):.1f} % |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    settings = Settings.from_env()
    parser.add_argument("--url", default=settings.redis_url, help="the server (default: REDIS_URL)")
    parser.add_argument("--partitions", type=int, default=settings.partitions)
    args = parser.parse_args()
    print(render(*asyncio.run(_measure(args.url, args.partitions))))


async def _measure(url: str, partitions: int) -> tuple[list[Kind], int]:
    redis = Redis.from_url(url)
    try:
        return await measure(redis, partitions)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    main()
