"""The AsyncAPI 3.0 description of the log's streams, built from the event Structs themselves.

    python -m schemas.asyncapi            # write schemas/asyncapi.json
    python -m schemas.asyncapi --check    # exit 1 if the committed file is out of date

The payload schemas come from ``msgspec.json.schema_components`` over the same classes the codec
decodes, so the description cannot drift from the code without the test noticing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from schemas.events import (
    ArticleCorrected,
    ArticleEnriched,
    ArticleFiled,
    ArticleKilled,
    ArticleKilledV1,
    ArticlePublished,
    ArticleUpdated,
    DeadLettered,
    EmbargoChanged,
)
from schemas.partners import PartnerChanged, PartnerRegistered, PartnerRemoved
from schemas.streams import PREFIX, Stream, registry_key, vocab_key
from schemas.vocabulary import VocabAliasAdded, VocabEntryAdded, VocabEntryRetired

ASYNCAPI_VERSION = "3.0.0"
PATH = Path(__file__).resolve().parent / "asyncapi.json"
REF = "#/components/schemas/{name}"

# The fields beside ``data`` in an article stream entry (schemas/README.md, "A stream entry").
_ARTICLE_ENTRY_FIELDS: dict[str, Any] = {
    "type": "object",
    "description": "The other fields of the stream entry; `data` holds the payload as JSON.",
    "properties": {
        "type": {"type": "string", "description": "the event's tag, `<noun>.<past verb>.v<major>`"},
        "id": {"type": "string", "description": "the event id; consumers are idempotent on it"},
        "article": {"type": "string", "description": "the article id (a URN)"},
        "version": {"type": "string", "pattern": "^[0-9]+$", "description": "the article's version after the event"},
    },
    "required": ["type", "id", "article", "version"],
}
_TYPED_ENTRY_FIELDS: dict[str, Any] = {
    "type": "object",
    "description": "The other field of the stream entry; `data` holds the payload as JSON.",
    "properties": {"type": {"type": "string", "description": "the event's tag"}},
    "required": ["type"],
}
_DEAD_ENTRY_FIELDS: dict[str, Any] = {
    "type": "object",
    "description": "The other fields of the dead-letter entry; `data` holds the payload as JSON.",
    "properties": {"type": {"const": "dead.lettered.v1"}, "entry": {"type": "string", "description": "the failed entry's id"}},
    "required": ["type", "entry"],
}

_PARTITION = {
    "description": "The partition's Redis Cluster hash tag, `{p0}` to `{p<N-1>}` for NEWSWIRE_PARTITIONS=N; "
                   "an article lives on partition crc32(article id) % N.",
    "default": "{p0}",
    "examples": ["{p0}", "{p1}"],
}


def _tag(cls: type[msgspec.Struct]) -> str:
    return str(cls.__struct_config__.tag)


def _message(cls: type[msgspec.Struct], headers: dict[str, Any], note: str = "") -> dict[str, Any]:
    summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else cls.__name__
    message: dict[str, Any] = {
        "name": _tag(cls) if cls is not DeadLettered else "dead.lettered.v1",
        "title": cls.__name__,
        "summary": summary,
        "contentType": "application/json",
        "headers": headers,
        "payload": {"$ref": REF.format(name=cls.__name__)},
    }
    if note:
        message["description"] = note
    return message


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/{kind}/{name}"}


def build() -> dict[str, Any]:
    """The whole AsyncAPI document as a JSON-ready dict (deterministic: same code, same output)."""
    article_events: list[type[msgspec.Struct]] = [
        ArticleFiled, ArticleUpdated, ArticleCorrected, ArticleKilled, ArticleKilledV1, EmbargoChanged,
    ]
    registry_events: list[type[msgspec.Struct]] = [PartnerRegistered, PartnerChanged, PartnerRemoved]
    vocab_events: list[type[msgspec.Struct]] = [VocabEntryAdded, VocabAliasAdded, VocabEntryRetired]
    all_types: list[type[msgspec.Struct]] = [
        *article_events, ArticleEnriched, ArticlePublished, DeadLettered, *registry_events, *vocab_events,
    ]
    _, components = msgspec.json.schema_components(all_types, ref_template=REF)

    messages: dict[str, Any] = {}
    pipeline_events: list[type[msgspec.Struct]] = [*article_events, ArticleEnriched, ArticlePublished]
    for cls in pipeline_events:
        note = ("Superseded by article.killed.v2; readers upcast it with `category: other`."
                if cls is ArticleKilledV1 else "")
        messages[cls.__name__] = _message(cls, _ARTICLE_ENTRY_FIELDS, note)
    messages["DeadLettered"] = _message(DeadLettered, _DEAD_ENTRY_FIELDS)
    for typed in [*registry_events, *vocab_events]:
        messages[typed.__name__] = _message(typed, _TYPED_ENTRY_FIELDS)

    def partition_channel(stream: Stream, description: str, names: list[str]) -> dict[str, Any]:
        return {
            "address": f"{PREFIX}:{{partition}}:{stream.value}",
            "title": f"{stream.value} stream",
            "description": description,
            "parameters": {"partition": _PARTITION},
            "messages": {name: _ref("components/messages", name) for name in names},
        }

    channels = {
        "filed": partition_channel(
            Stream.FILED, "The editors' article events: filings, updates, corrections, kills and embargo changes.",
            [c.__name__ for c in article_events]),
        "enriched": partition_channel(
            Stream.ENRICHED, "Each filed version with its entity tags, IPTC subjects and related links.",
            ["ArticleEnriched"]),
        "published": partition_channel(
            Stream.PUBLISHED, "The IPTC ninjs 3.1 items released to partners, in the order they were released; "
                              "the live stream, the feed and webhooks all read this stream.", ["ArticlePublished"]),
        "dead": partition_channel(
            Stream.DEAD, "Entries that failed NEWSWIRE_MAX_DELIVERIES times, with their last error.", ["DeadLettered"]),
        "registry": {
            "address": registry_key("events"),
            "title": "registry stream",
            "description": "Partner registry events (and credential events, which carry only hashes of secrets).",
            "messages": {c.__name__: _ref("components/messages", c.__name__) for c in registry_events},
        },
        "vocabulary": {
            "address": vocab_key("events"),
            "title": "vocabulary stream",
            "description": "Editors' changes to the entity vocabulary, folded over the seed by every enrich worker.",
            "messages": {c.__name__: _ref("components/messages", c.__name__) for c in vocab_events},
        },
    }

    def operation(action: str, channel: str, summary: str, names: list[str] | None = None) -> dict[str, Any]:
        chosen = names if names is not None else list(channels[channel]["messages"])
        return {"action": action, "channel": _ref("channels", channel), "summary": summary,
                "messages": [_ref(f"channels/{channel}/messages", name) for name in chosen]}

    operations = {
        "ingestAppendsArticleEvents": operation("send", "filed", "Ingest appends an event for each accepted editor command.",
                                                [c.__name__ for c in article_events if c is not ArticleKilledV1]),
        "enrichReadsFiled": operation("receive", "filed", "The enrich worker (consumer group `enrich`) reads content events."),
        "enrichAppendsEnriched": operation("send", "enriched", "The enrich worker appends one enrichment per filed version."),
        "publishReadsEnriched": operation("receive", "enriched", "The publish worker (group `publish`) builds ninjs items."),
        "publishReadsLifecycle": operation("receive", "filed", "The publish worker (group `lifecycle`) reads kills and "
                                           "embargo changes.", ["ArticleKilled", "ArticleKilledV1", "EmbargoChanged"]),
        "publishAppendsPublished": operation("send", "published", "The publish worker releases ninjs items."),
        "partnersReadPublished": operation("receive", "published", "Partner delivery (SSE, feed, webhooks; group "
                                           "`webhooks`) reads released items."),
        "workersAppendDeadLetters": operation("send", "dead", "A worker parks an entry that kept failing."),
        "adminsChangePartners": operation("send", "registry", "`newswire partners` and the admin API record changes."),
        "editorsChangeVocabulary": operation("send", "vocabulary", "`newswire vocab` records changes."),
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Newswire event log",
            "version": "1",
            "description": "The streams of the wire's event log on Redis Streams. Each entry stores its event as JSON "
                           "in the field `data`, beside the fields given as the message headers; see schemas/README.md.",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "redis": {"host": "127.0.0.1:6379", "protocol": "redis",
                      "description": "The Redis or Valkey server REDIS_URL names (streams, consumer groups, AOF)."},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": components},
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check schemas/asyncapi.json")
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not PATH.exists() or PATH.read_text(encoding="utf-8") != text:
            print(f"{PATH.name} is out of date: run python -m schemas.asyncapi", file=sys.stderr)
            return 1
        print(f"{PATH.name} is up to date")
        return 0
    PATH.write_text(text, encoding="utf-8")
    print(f"wrote {PATH.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
