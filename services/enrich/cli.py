"""``newswire vocab list|add|alias|retire|suggest``: editors' changes to the entity vocabulary, as events.

Each change is checked against the current vocabulary (the seed with every event so far folded in)
and appended to ``nw:{vocab}:events``; enrich workers apply it before their next batch.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import shlex
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from schemas.vocabulary import AnyVocabEvent, VocabAliasAdded, VocabEntryAdded, VocabEntryRetired
from services.enrich.vocabulary import ENTITY_TYPES, Vocabulary, name_entity_id


def register_vocab(sub: Any) -> None:
    """Add the ``vocab`` command to the ``newswire`` parser's subcommands."""
    vocab = sub.add_parser("vocab", help="list and change the entity vocabulary (changes are events on the log)")
    actions = vocab.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="entries changed by editors (or, with --query, any matching entry)")
    listing.add_argument("--query", help="case-insensitive text in a name or alias (searches the seed too)")
    listing.add_argument("--limit", type=int, default=50)
    add = actions.add_parser("add", help="add an entry (or replace the entry with that id)")
    add.add_argument("name")
    add.add_argument("--type", required=True, choices=sorted(ENTITY_TYPES))
    add.add_argument("--alias", action="append", default=[], help="another surface form (repeatable)")
    add.add_argument("--id", help="default: newswire:<type>:<slug of the name>")
    add.add_argument("--uri", default="")
    alias = actions.add_parser("alias", help="add a surface form to an entry")
    alias.add_argument("id")
    alias.add_argument("alias")
    retire = actions.add_parser("retire", help="stop matching an entry (seed places too)")
    retire.add_argument("id")
    retire.add_argument("--reason", default="")
    suggest = actions.add_parser("suggest", help="names the rules keep finding in published stories, not yet entries")
    suggest.add_argument("--min-stories", type=int, default=3, help="in at least this many distinct stories")
    suggest.add_argument("--limit", type=int, default=50)
    for parser in (add, alias, retire):
        parser.add_argument("--editor", default=None, help="who asks (default: the login name)")
    vocab.set_defaults(func=cmd_vocab)


def _event(args: argparse.Namespace, now: datetime) -> AnyVocabEvent:
    common: dict[str, Any] = {"event_id": str(uuid.uuid4()), "occurred_at": now, "editor": args.editor or getpass.getuser()}
    if args.action == "add":
        entry_id = args.id or name_entity_id(args.type, args.name)[0]
        return VocabEntryAdded(
            entry_id=entry_id, name=args.name, entity_type=args.type, aliases=args.alias, uri=args.uri, **common
        )
    if args.action == "alias":
        return VocabAliasAdded(entry_id=args.id, alias=args.alias, **common)
    return VocabEntryRetired(entry_id=args.id, reason=args.reason, **common)


def _print_listing(vocabulary: Vocabulary, changed: list[str], query: str | None, limit: int) -> None:
    if query:
        q = query.lower()
        ids = [e.id for e in vocabulary if q in e.name.lower() or any(q in a.lower() for a in e.aliases)]
        ids.sort(key=lambda i: (-(vocabulary.get(i) or _NO_RANK).rank, i))
    else:
        ids = list(dict.fromkeys(changed))
    for entry_id in ids[:limit]:
        entry = vocabulary.get(entry_id)
        if entry is None:
            print(f"{entry_id:<48} (retired)")
        else:
            aliases = f"  aliases: {', '.join(entry.aliases)}" if entry.aliases else ""
            print(f"{entry.id:<48} {entry.type:<12} {entry.name}{aliases}")
    print(f"# vocabulary revision {vocabulary.revision}: {len(vocabulary)} entries", file=sys.stderr)


class _NoRank:
    rank = 0


_NO_RANK = _NoRank()


async def _published_tags(redis: Any, partitions: int) -> list[tuple[str, str, str, str]]:
    """(article id, tag id, name, type) of the latest version of every live published article."""
    from schemas.codec import decode_event
    from schemas.events import ArticlePublished
    from schemas.ninjs import NinjsItem
    from schemas.streams import Stream, stream_key
    from services.wire.eventlog import as_entries

    items: dict[str, NinjsItem] = {}
    for partition in range(partitions):
        position = "-"
        while True:
            rows = as_entries(await redis.xrange(stream_key(Stream.PUBLISHED, partition), min=position, count=1000))
            if not rows:
                break
            for entry_id, fields in rows:
                event = decode_event(fields)
                if isinstance(event, ArticlePublished):
                    if event.item.pub_status == "usable":
                        items[event.item.uri] = event.item
                    else:
                        items.pop(event.item.uri, None)
                position = f"({entry_id}"
    kinds = (("people", "person"), ("organisations", "organisation"), ("places", "place"))
    return [
        (uri, named.literal, named.name or "", kind)
        for uri, item in items.items()
        for field, kind in kinds
        for named in getattr(item, field)
        if named.literal
    ]


def cmd_vocab(args: argparse.Namespace) -> int:
    from services.enrich.core import new_enricher
    from services.enrich.suggest import recurring_names
    from services.enrich.vocab_store import VocabProjection, append_checked, read_events
    from services.wire.cli import _redis_settings
    from services.wire.eventlog import connect

    settings = _redis_settings()

    async def run() -> int:
        redis = connect(settings)
        try:
            vocabulary = new_enricher().vocabulary
            projection = VocabProjection(redis, vocabulary)
            await projection.catch_up()
            if args.action == "list":
                changed = [e.entry_id for _, e in await read_events(redis) if e is not None]
                _print_listing(vocabulary, changed, args.query, args.limit)
                return 0
            if args.action == "suggest":
                tags = await _published_tags(redis, settings.partitions)
                for s in recurring_names(tags, vocabulary, args.min_stories)[: args.limit]:
                    print(f"{s.stories:>5} stories  {s.type:<12} {s.name:<40} newswire vocab add {shlex.quote(s.name)} "
                          f"--type {s.type}")
                return 0
            event = _event(args, datetime.now(UTC))
            try:
                entry_id = await append_checked(redis, vocabulary, event)
            except ValueError as exc:
                print(f"newswire vocab: {exc}", file=sys.stderr)
                return 1
            print(f"{args.action} {event.entry_id} (event {entry_id}, revision {vocabulary.revision + 1})")
            return 0
        finally:
            await redis.aclose()

    return asyncio.run(run())
