"""The vocabulary as a fold over vocabulary events: ``evolve(vocabulary, event)``, pure.

Rules (the same for the worker's projection, the command line and a replay):
- ``vocab.entry-added.v1`` adds the entry, or replaces the entry with that id (also a retired one);
  on a surface form it shares with a seed entry of the same kind (both names, or both aliases), the
  editors' entry wins;
- ``vocab.alias-added.v1`` adds a surface form to an existing entry; for an unknown or retired id it
  is a no-op (reported, never a crash: a projection must not stop on one bad event);
- ``vocab.entry-retired.v1`` removes the entry (seed entries too: "retire geonames:2643743" stops
  matching London); retiring an unknown id is a no-op.
Every applied event, no-op or not, raises ``Vocabulary.revision`` by one, so the revision in a tag's
``creator`` ("newswire-vocab/1@12") names the exact vocabulary that assigned it: the seed plus the
first 12 events of ``nw:{vocab}:events``.
"""

from __future__ import annotations

from schemas.vocabulary import AnyVocabEvent, VocabAliasAdded, VocabEntryAdded, VocabEntryRetired
from services.enrich.vocabulary import Entry, Vocabulary, name_entity_id

MAX_NAME = 200


def check(vocabulary: Vocabulary, event: AnyVocabEvent) -> str | None:
    """Why ``event`` would not change ``vocabulary`` as asked, or ``None`` when it would."""
    match event:
        case VocabEntryAdded(name=name, aliases=aliases):
            if not name.strip() or len(name) > MAX_NAME:
                return f"a name is 1-{MAX_NAME} characters"
            if any(len(a.strip()) < 2 or len(a) > MAX_NAME for a in aliases):
                return f"an alias is 2-{MAX_NAME} characters"
            return None
        case VocabAliasAdded(entry_id=entry_id, alias=alias):
            if entry_id not in vocabulary:
                return f"no entry {entry_id!r}"
            if len(alias.strip()) < 2 or len(alias) > MAX_NAME:
                return f"an alias is 2-{MAX_NAME} characters"
            return None
        case VocabEntryRetired(entry_id=entry_id):
            return None if entry_id in vocabulary else f"no entry {entry_id!r}"
    return "unknown event"  # pragma: no cover - the match above is exhaustive


def evolve(vocabulary: Vocabulary, event: AnyVocabEvent) -> str | None:
    """Apply ``event`` in place; returns why it was a no-op, or ``None`` when it applied."""
    problem = check(vocabulary, event)
    vocabulary.revision += 1
    if problem is not None:
        return problem
    match event:
        case VocabEntryAdded(entry_id=entry_id, name=name, entity_type=kind, aliases=aliases, uri=uri):
            old = vocabulary.get(entry_id)
            vocabulary.add(
                Entry(
                    id=entry_id,
                    name=name.strip(),
                    type=kind,
                    aliases=tuple(dict.fromkeys(a.strip() for a in aliases if a.strip() != name.strip())),
                    uri=uri or (old.uri if old else "") or name_entity_id(kind, name)[1],
                    adjectives=old.adjectives if old else (),
                    rank=old.rank if old else 1,
                    country=old.country if old else "",
                    editorial=True,
                )
            )
        case VocabAliasAdded(entry_id=entry_id, alias=alias):
            vocabulary.alias(entry_id, alias)
        case VocabEntryRetired(entry_id=entry_id):
            vocabulary.retire(entry_id)
    return None


def fold(vocabulary: Vocabulary, events: list[AnyVocabEvent]) -> Vocabulary:
    """``vocabulary`` with ``events`` applied in order (in place; returned for convenience)."""
    for event in events:
        evolve(vocabulary, event)
    return vocabulary
