"""The stored format of a stream entry, and the one codec that writes and reads it.

An entry has five fields (see ``schemas/README.md``)::

    type     article.filed.v1            the event's tag
    id       0e8c...                     the event id
    article  urn:newswire:article:...    the aggregate
    version  1                           the aggregate's version after the event
    data     {"type": ..., ...}          the whole event as JSON (camelCase names)

Readers decode ``data`` by its ``type``; an unknown type decodes to ``None`` and is skipped.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from schemas.events import AnyEvent, Event
from schemas.ninjs import NinjsItem

FIELD_TYPE = "type"
FIELD_DATA = "data"

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)
_item_decoder = msgspec.json.Decoder(NinjsItem)
_KNOWN_TYPES: frozenset[str] = frozenset(
    str(cls.__struct_config__.tag) for cls in typing.get_args(AnyEvent)
)

# Upcasters: an older event version, as raw JSON, to the JSON of the current one.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def kill_v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """``article.killed.v1`` had no category: such kills read as ``other``."""
    return {**raw, "type": "article.killed.v2", "category": "other"}


UPCASTERS: dict[str, Upcaster] = {"article.killed.v1": kill_v1_to_v2}


def encode_json(value: object) -> bytes:
    return _encoder.encode(value)


def encode_event(event: Event) -> dict[str, bytes]:
    """The fields of the stream entry that stores ``event``."""
    return {
        FIELD_TYPE: event.__struct_config__.tag.encode(),  # type: ignore[union-attr]
        "id": event.event_id.encode(),
        "article": event.article_id.encode(),
        "version": str(event.version).encode(),
        FIELD_DATA: _encoder.encode(event),
    }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode_event(fields: Mapping[bytes, bytes] | Mapping[str, Any]) -> AnyEvent | None:
    """Decode an entry's fields; ``None`` for a type this reader does not know.

    Raises ``msgspec.ValidationError``/``DecodeError`` for a known type with a broken body.
    """
    raw_type = fields.get(FIELD_TYPE) or fields.get(FIELD_TYPE.encode())  # type: ignore[call-overload]
    raw_data = fields.get(FIELD_DATA) or fields.get(FIELD_DATA.encode())  # type: ignore[call-overload]
    if raw_type is None or raw_data is None:
        return None
    event_type = _text(raw_type)
    data = raw_data.encode() if isinstance(raw_data, str) else raw_data
    if event_type in UPCASTERS:
        upcast = UPCASTERS[event_type](msgspec.json.decode(data))
        event: AnyEvent = _decoder.decode(_encoder.encode(upcast))
        return event
    if event_type not in _KNOWN_TYPES:
        return None
    decoded: AnyEvent = _decoder.decode(data)
    return decoded


def decode_item(data: bytes) -> NinjsItem:
    return _item_decoder.decode(data)
