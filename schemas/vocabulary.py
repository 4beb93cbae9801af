"""Vocabulary events: editors' changes to the entity vocabulary, as facts on ``nw:{vocab}:events``.

The enrich worker folds them, in stream order, over the vendored seed vocabulary (GeoNames places and
a few organisations), so the vocabulary a worker matches with is a projection of the log: every
worker, and every replay, arrives at the same entries. Each entry of the stream has two fields,
``type`` (the tag below) and ``data`` (the event as JSON, camelCase names).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

VocabEntityType = Literal["person", "organisation", "place"]


class VocabEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", rename="camel"):
    """A change to the vocabulary. Subclasses carry an explicit tag "vocab.<noun>-<past-verb>.v<major>"."""

    event_id: str
    entry_id: str  # "newswire:person:yevgeny-prigozhin", "geonames:625144", ...
    occurred_at: datetime
    editor: str = ""  # who asked for it (free text from the command line)


class VocabEntryAdded(VocabEvent, frozen=True, tag="vocab.entry-added.v1"):
    """A new entry, or a replacement of the entry with the same id (a retired id comes back)."""

    name: str
    entity_type: VocabEntityType
    aliases: list[str] = []
    uri: str = ""


class VocabAliasAdded(VocabEvent, frozen=True, tag="vocab.alias-added.v1"):
    """Another surface form of an existing entry ("Prigozhin" for "Yevgeny Prigozhin")."""

    alias: str


class VocabEntryRetired(VocabEvent, frozen=True, tag="vocab.entry-retired.v1"):
    """The entry is no longer matched (a wrong place, a retired name); its id stays reserved."""

    reason: str = ""


AnyVocabEvent = VocabEntryAdded | VocabAliasAdded | VocabEntryRetired

VOCAB_EVENT_TYPES: frozenset[str] = frozenset(
    cls.__struct_config__.tag for cls in (VocabEntryAdded, VocabAliasAdded, VocabEntryRetired)  # type: ignore[misc]
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyVocabEvent)


def encode_vocab_event(event: VocabEvent) -> dict[str, bytes]:
    """The fields of the stream entry that stores ``event``."""
    return {"type": event.__struct_config__.tag.encode(), "data": _encoder.encode(event)}  # type: ignore[union-attr]


def decode_vocab_event(fields: dict[bytes, bytes] | dict[str, bytes]) -> AnyVocabEvent | None:
    """Decode an entry's fields; ``None`` for a type this reader does not know (skip it)."""
    raw: dict[str, bytes | str] = {(k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()}
    kind, data = raw.get("type"), raw.get("data")
    if kind is None or data is None:
        return None
    if (kind.decode() if isinstance(kind, bytes) else kind) not in VOCAB_EVENT_TYPES:
        return None
    event: AnyVocabEvent = _decoder.decode(data.encode() if isinstance(data, str) else data)
    return event
