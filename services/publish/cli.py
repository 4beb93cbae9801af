"""``newswire partners …``: the partner registry from the command line (talks to Redis directly)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from schemas.codec import encode_json
from schemas.partners import Filters, Partner
from services.publish.partners import PartnerError, PartnerRegistry
from services.publish.views import PartnerView
from services.publish.webhooks.cli import register as register_webhook_commands
from services.wire.eventlog import connect
from services.wire.settings import Settings

MODES = ("sse", "webhook", "feed")


def _filters(args: argparse.Namespace) -> Filters:
    try:
        return msgspec.convert({
            "subjects": args.subject or [], "places": args.place or [], "people": args.person or [],
            "organisations": args.organisation or [], "languages": args.language or [], "minUrgency": args.min_urgency,
        }, Filters)
    except msgspec.ValidationError as exc:
        raise PartnerError(f"bad filter: {exc}") from exc


def _run(settings: Settings, action: Callable[[PartnerRegistry], Awaitable[int]]) -> int:
    async def main() -> int:
        redis = connect(settings)
        try:
            return await action(PartnerRegistry(redis))
        except (PartnerError, ValueError) as exc:
            print(f"newswire partners: {exc}", file=sys.stderr)
            return 1
        finally:
            await redis.aclose()

    return asyncio.run(main())


def _show(partner: Partner) -> None:
    print(encode_json(PartnerView.of(partner)).decode())


def command(args: argparse.Namespace, settings: Settings, check_url: Callable[[str], Awaitable[None]]) -> int:
    now = datetime.now(UTC)

    async def create(registry: PartnerRegistry) -> int:
        modes = args.mode or ["sse", "feed"]
        if args.webhook_url:
            await check_url(args.webhook_url)
        partner, token, secret = await registry.register(args.name, modes=modes, filters=_filters(args),
                                                         webhook_url=args.webhook_url, actor="cli", now=now)
        print(f"token          {token}")
        if secret:
            print(f"webhook secret {secret}")
        print(f"# partner {partner.name!r} ({', '.join(partner.modes)}): store these now, they are shown only once",
              file=sys.stderr)
        return 0

    async def listing(registry: PartnerRegistry) -> int:
        for partner in await registry.all():
            webhook = partner.webhook.url if partner.webhook else "-"
            print(f"{partner.name:<24} {partner.status:<7} {','.join(partner.modes):<16} {webhook}")
        return 0

    async def show(registry: PartnerRegistry) -> int:
        _show(await registry.require(args.name))
        return 0

    async def set_status(registry: PartnerRegistry) -> int:
        status = "paused" if args.action == "pause" else "active"
        _show(await registry.change(args.name, lambda p: msgspec.structs.replace(p, status=status), actor="cli",
                                    reason=f"{args.action}d from the command line", now=now))
        return 0

    async def set_filters(registry: PartnerRegistry) -> int:
        filters = _filters(args)
        _show(await registry.change(args.name, lambda p: msgspec.structs.replace(p, filters=filters), actor="cli",
                                    reason="filters set from the command line", now=now))
        return 0

    async def rotate(registry: PartnerRegistry) -> int:
        secret = await registry.rotate_secret(args.name, overlap=timedelta(hours=args.overlap_hours), actor="cli", now=now)
        print(secret)
        print(f"# old secrets keep signing for {args.overlap_hours} h", file=sys.stderr)
        return 0

    async def remove(registry: PartnerRegistry) -> int:
        await registry.remove(args.name, actor="cli", now=now)
        print(f"removed partner {args.name!r} and revoked its token")
        return 0

    actions: dict[str, Callable[[PartnerRegistry], Awaitable[int]]] = {
        "create": create, "list": listing, "show": show, "pause": set_status, "resume": set_status,
        "filters": set_filters, "rotate-secret": rotate, "remove": remove,
    }
    return _run(settings, actions[args.action])


def _add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subject", action="append", help="IPTC Media Topic code, URI or name (repeatable)")
    parser.add_argument("--place", action="append", help="place id or name (repeatable)")
    parser.add_argument("--person", action="append", help="person id or name (repeatable)")
    parser.add_argument("--organisation", action="append", help="organisation id or name (repeatable)")
    parser.add_argument("--language", action="append", help="language code, e.g. en (repeatable)")
    parser.add_argument("--min-urgency", type=int, help="only items at least this urgent (1 = most urgent)")


def register(sub: Any, handler: Callable[[argparse.Namespace], int]) -> Any:
    """Add ``newswire partners …`` to the top-level subparsers; returns its actions for more commands."""
    group = sub.add_parser("partners", help="partners: who receives the wire, how, and which items")
    actions = group.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="register a partner; prints its token (and webhook secret) once")
    create.add_argument("--name", required=True)
    create.add_argument("--mode", action="append", choices=MODES, help="delivery mode (repeatable; default sse and feed)")
    create.add_argument("--webhook-url")
    _add_filter_arguments(create)
    actions.add_parser("list", help="all partners")
    for name, text in (("show", "one partner's settings"), ("pause", "stop delivering (webhooks queue up)"),
                       ("resume", "deliver again"), ("remove", "remove and revoke the token")):
        actions.add_parser(name, help=text).add_argument("name")
    filters = actions.add_parser("filters", help="replace a partner's filters (none given: every item)")
    filters.add_argument("name")
    _add_filter_arguments(filters)
    rotate = actions.add_parser("rotate-secret", help="a new webhook secret; old ones keep signing for a while")
    rotate.add_argument("name")
    rotate.add_argument("--overlap-hours", type=float, default=24.0)
    group.set_defaults(func=handler)
    register_webhook_commands(actions)
    return actions

