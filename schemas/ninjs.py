"""The IPTC ninjs 3.1 item the wire delivers to partners (the subset it fills in)."""

from __future__ import annotations

from typing import Literal

import msgspec

NINJS_VERSION = "3.1"
NINJS_SCHEMA_URI = "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#"

PubStatus = Literal["usable", "withheld", "canceled"]


class _Part(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename="camel"):
    """Optional parts are left out of the JSON when unset; required ones have no default."""


class Headline(_Part, frozen=True):
    value: str
    role: str | None = None


class Body(_Part, frozen=True):
    value: str
    role: str | None = None
    content_type: str | None = None
    char_count: int | None = None
    word_count: int | None = None


class Named(_Part, frozen=True):
    """A person, organisation, place or subject reference."""

    name: str
    uri: str | None = None
    rel: str | None = None
    literal: str | None = None


class Subject(_Part, frozen=True):
    name: str
    uri: str | None = None
    creator: str | None = None
    relevance: int | None = None
    confidence: int | None = None
    rel: str | None = None


class Association(_Part, frozen=True):
    name: str
    uri: str
    rel: str
    type: str | None = None
    headlines: list[Headline] = []


class AltId(_Part, frozen=True):
    role: str
    value: str


class Standard(_Part, frozen=True):
    name: str
    version: str
    schema: str


NINJS_3_1 = Standard(name="ninjs", version=NINJS_VERSION, schema=NINJS_SCHEMA_URI)


class NinjsItem(_Part, frozen=True):
    """A ninjs 3.1 document; every field name is the standard's own."""

    uri: str
    type: str
    pub_status: PubStatus
    version: str | None = None
    first_created: str | None = None
    version_created: str | None = None
    embargoed_until: str | None = None
    urgency: int | None = None
    language: str | None = None
    headlines: list[Headline] = []
    bodies: list[Body] = []
    by: str | None = None
    located: str | None = None
    slugline: str | None = None
    people: list[Named] = []
    organisations: list[Named] = []
    places: list[Named] = []
    subjects: list[Subject] = []
    associations: list[Association] = []
    alt_ids: list[AltId] = []
    standard: Standard | None = None
    copyright_notice: str | None = None
    ed_note: str | None = None
