"""Which items a partner is entitled to: its filters, its status, and what it already received. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.ninjs import Named, NinjsItem
from schemas.partners import Filters, Partner

MEDTOP_URI = "http://cv.iptc.org/newscodes/mediatopic/"


def _keys(entries: list[Named]) -> set[str]:
    keys: set[str] = set()
    for entry in entries:
        keys.add(entry.name.casefold())
        if entry.literal:
            keys.add(entry.literal.casefold())
        if entry.uri:
            keys.add(entry.uri.casefold())
    return keys


def _subject_keys(item: NinjsItem) -> set[str]:
    keys: set[str] = set()
    for subject in item.subjects:
        if subject.rel == "keyword":
            continue
        keys.add(subject.name.casefold())
        if subject.uri:
            keys.add(subject.uri.casefold())
            if subject.uri.startswith(MEDTOP_URI):
                keys.add("medtop:" + subject.uri.removeprefix(MEDTOP_URI))
    return keys


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

    def matches(self, item: NinjsItem) -> bool:
        if self.min_urgency is not None and (item.urgency is None or item.urgency > self.min_urgency):
            return False
        if self.languages and (item.language or "").casefold() not in self.languages:
            return False
        if self.subjects and not self.subjects & _subject_keys(item):
            return False
        if self.places and not self.places & _keys(item.places):
            return False
        if self.people and not self.people & _keys(item.people):
            return False
        return not (self.organisations and not self.organisations & _keys(item.organisations))


def follows_earlier(item: NinjsItem) -> bool:
    """A kill or a later version: it must reach whoever received an earlier version."""
    return item.pub_status == "canceled" or (item.version is not None and item.version != "1")


def entitled(partner: Partner, compiled: CompiledFilters, item: NinjsItem, *, received_earlier: bool) -> bool:
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
