"""Which items a partner is entitled to: its filters, its status, and what it already received. Pure."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from schemas.ninjs import Named, NinjsItem
from schemas.partners import Filters, Partner

MEDTOP_URI = "http://cv.iptc.org/newscodes/mediatopic/"


def _keys(entries: list[Named]) -> tuple[str, ...]:
    keys: dict[str, None] = {}
    for entry in entries:
        keys[entry.name.casefold()] = None
        if entry.literal:
            keys[entry.literal.casefold()] = None
        if entry.uri:
            keys[entry.uri.casefold()] = None
    return tuple(keys)


def _subject_keys(item: NinjsItem) -> tuple[str, ...]:
    keys: dict[str, None] = {}
    for subject in item.subjects:
        if subject.rel == "keyword":
            continue
        keys[subject.name.casefold()] = None
        if subject.uri:
            keys[subject.uri.casefold()] = None
            if subject.uri.startswith(MEDTOP_URI):
                keys["medtop:" + subject.uri.removeprefix(MEDTOP_URI)] = None
    return tuple(keys)


class ItemFacts(msgspec.Struct, frozen=True, gc=False):
    """What the filters look at in an item, lower-cased once for every partner that checks it.

    Only strings, numbers and tuples of strings, and the struct is not tracked by the garbage
    collector: the live tail keeps tens of thousands of these, and a full collection that walked
    them (as it walked the items they come from) paused every story in flight for up to hundreds
    of ms.
    """

    uri: str
    version: str | None
    pub_status: str | None
    urgency: int | None
    language: str
    subjects: tuple[str, ...]
    places: tuple[str, ...]
    people: tuple[str, ...]
    organisations: tuple[str, ...]

    @classmethod
    def of(cls, item: NinjsItem) -> ItemFacts:
        return cls(item.uri, item.version, item.pub_status, item.urgency, (item.language or "").casefold(),
                   _subject_keys(item), _keys(item.places), _keys(item.people), _keys(item.organisations))


@dataclass(frozen=True)
class CompiledFilters:
    """Filters lower-cased once, for checking many items."""

    subjects: frozenset[str]
    places: frozenset[str]
    people: frozenset[str]
    organisations: frozenset[str]
    languages: frozenset[str]
    min_urgency: int | None

    @classmethod
    def of(cls, filters: Filters) -> CompiledFilters:
        def fold(values: list[str]) -> frozenset[str]:
            return frozenset(v.casefold() for v in values)

        return cls(fold(filters.subjects), fold(filters.places), fold(filters.people), fold(filters.organisations),
                   fold(filters.languages), filters.min_urgency)

    def matches(self, item: ItemFacts) -> bool:
        if self.min_urgency is not None and (item.urgency is None or item.urgency > self.min_urgency):
            return False
        if self.languages and item.language not in self.languages:
            return False
        if self.subjects and self.subjects.isdisjoint(item.subjects):
            return False
        if self.places and self.places.isdisjoint(item.places):
            return False
        if self.people and self.people.isdisjoint(item.people):
            return False
        return not (self.organisations and self.organisations.isdisjoint(item.organisations))


def follows_earlier(item: ItemFacts) -> bool:
    """A kill or a later version: it must reach whoever received an earlier version."""
    return item.pub_status == "canceled" or (item.version is not None and item.version != "1")


def entitled(partner: Partner, compiled: CompiledFilters, item: ItemFacts, *, received_earlier: bool) -> bool:
    """Whether ``partner`` gets ``item`` now.

    A kill or a new version goes to every partner that received an earlier version of the article,
    whatever its filters say now; anything else goes to partners whose filters match. A paused
    partner gets nothing (its webhook queue waits; live and pull modes refuse it while paused).
    """
    if partner.status != "active":
        return False
    if received_earlier and follows_earlier(item):
        return True
    return compiled.matches(item)
