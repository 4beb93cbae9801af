"""``newswire partners redrive|replay|deliveries NAME``: operate a partner's webhook queue."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from typing import Any

from services.publish.partners import PartnerError, PartnerRegistry
from services.publish.webhooks import operations
from services.publish.webhooks.store import WebhookStore
from services.wire.eventlog import connect
from services.wire.settings import Settings


def register(partner_actions: Any) -> None:
    """Add ``redrive``, ``replay`` and ``deliveries`` to the subcommands of ``newswire partners``."""
    redrive = partner_actions.add_parser("redrive", help="put a partner's webhook dead letters back in its queue")
    redrive.add_argument("name")
    redrive.set_defaults(func=cmd_redrive)
    replay = partner_actions.add_parser("replay", help="queue again the webhook items published since a time")
    replay.add_argument("name")
    replay.add_argument("--since", required=True, type=_time, help="ISO 8601 with a time zone, e.g. 2025-01-31T12:00:00Z")
    replay.set_defaults(func=cmd_replay)
    deliveries = partner_actions.add_parser("deliveries", help="a partner's latest webhook attempts, newest first")
    deliveries.add_argument("name")
    deliveries.add_argument("--count", type=int, default=20)
    deliveries.set_defaults(func=cmd_deliveries)


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. Z or +02:00): {text!r}")
    return value


async def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    redis = connect(settings)
    try:
        store, registry = WebhookStore(redis), PartnerRegistry(redis)
        if args.func is cmd_redrive:
            print(f"{await operations.redrive(store, registry, args.name)} dead letters back in the queue of {args.name}")
        elif args.func is cmd_replay:
            count = await operations.replay(store, registry, args.name, args.since, settings.partitions)
            print(f"{count} items since {args.since.isoformat()} queued again for {args.name}")
        else:
            for r in await operations.deliveries(store, registry, args.name, args.count):
                status = r.status if r.status is not None else "-"
                print(f"{r.at.isoformat()} {r.msg_id} v{r.version} attempt={r.attempt} status={status} "
                      f"{r.outcome} {r.latency_ms}ms{' ' + r.error if r.error else ''}")
        return 0
    except PartnerError as exc:
        print(f"newswire: {exc}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()


def cmd_redrive(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


def cmd_replay(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


def cmd_deliveries(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))
