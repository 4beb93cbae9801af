"""Entity-tag quality on CoNLL-2003: a vocabulary learned from the train split, scored on the test split.

The learned vocabulary stands in for the wire's own tagged archive: every surface form that annotators
tagged PER, ORG or LOC in ``eng.train`` in at least half of its occurrences becomes a
``vocab.entry-added.v1`` event (with its majority type), and the events are folded over the vendored seed
exactly as the enrich worker folds the vocabulary stream. MISC is not a type the wire tags.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.enrich_data import ConllDoc
from schemas.vocabulary import VocabEntryAdded
from services.enrich.core import Enricher
from services.enrich.vocabulary import Vocabulary, name_entity_id

LEARN_MIN_SHARE = 0.5  # tagged as an entity in at least this share of its occurrences in train
MAX_NGRAM = 8
_EPOCH = datetime(1996, 8, 1, tzinfo=UTC)


def learn_events(train: list[ConllDoc]) -> list[VocabEntryAdded]:
    """Vocabulary events for the PER/ORG/LOC surface forms of ``train`` (see the module docstring)."""
    typed: dict[str, Counter[str]] = defaultdict(Counter)
    for doc in train:
        for start, end, kind in doc.spans():
            if kind != "misc":
                typed[" ".join(doc.tokens[start:end])][kind] += 1
    occurrences: Counter[str] = Counter()
    for doc in train:
        toks = doc.tokens
        for i in range(len(toks)):
            for n in range(1, MAX_NGRAM + 1):
                surface = " ".join(toks[i : i + n])
                if surface in typed:
                    occurrences[surface] += 1
    events: list[VocabEntryAdded] = []
    for surface in sorted(typed):
        kinds = typed[surface]
        kind, _ = max(kinds.items(), key=lambda kc: (kc[1], kc[0]))
        if len(surface) < 2 or sum(kinds.values()) < LEARN_MIN_SHARE * occurrences[surface]:
            continue
        entry_id = name_entity_id(kind, surface)[0]  # type: ignore[arg-type]
        events.append(
            VocabEntryAdded(event_id=f"conll-train:{len(events)}", entry_id=entry_id, occurred_at=_EPOCH,
                            editor="bench", name=surface, entity_type=kind)  # type: ignore[arg-type]
        )
    return events


@dataclass
class PRF:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set[object], gold: set[object]) -> None:
        self.tp += len(predicted & gold)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    @property
    def p(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def r(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.p * self.r / (self.p + self.r) if self.p + self.r else 0.0


def doc_text(doc: ConllDoc) -> tuple[str, list[int], list[int]]:
    """The document as text (tokens joined by spaces, one sentence a line) and token char offsets."""
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    sentence_starts = set(doc.sentence_starts)
    for i, tok in enumerate(doc.tokens):
        if i:
            sep = "\n" if i in sentence_starts else " "
            parts.append(sep)
            pos += 1
        starts.append(pos)
        parts.append(tok)
        pos += len(tok)
        ends.append(pos)
    return "".join(parts), starts, ends


def predict(enricher: Enricher, doc: ConllDoc, demonyms: bool = False) -> set[tuple[int, int, str]]:
    """Predicted mentions as token spans (a mention that does not align to tokens is widened to them).

    Demonym matches ("French" -> France) are evidence for a place tag, not names of the place (CoNLL
    calls them MISC); they are left out unless ``demonyms``.
    """
    text, starts, ends = doc_text(doc)
    mentions, _ = enricher.mentions(text)
    out: set[tuple[int, int, str]] = set()
    for m in mentions:
        if m.derived and not demonyms:
            continue
        first = next((i for i, e in enumerate(ends) if e > m.start), None)
        last = next((i for i in range(len(starts) - 1, -1, -1) if starts[i] < m.end), None)
        if first is not None and last is not None and first <= last:
            out.add((first, last + 1, m.type))
    return out


@dataclass
class EntityScores:
    mention: PRF
    document: PRF
    mention_4types: PRF
    untyped: PRF
    per_type: dict[str, PRF]
    with_demonyms: PRF
    vocabulary_events: int
    docs: int


def evaluate(enricher: Enricher, test: list[ConllDoc], events: int) -> EntityScores:
    mention, document, four, untyped, with_demonyms = PRF(), PRF(), PRF(), PRF(), PRF()
    per_type = {k: PRF() for k in ("person", "organisation", "place")}
    for doc in test:
        gold_all = doc.spans()
        gold = {g for g in gold_all if g[2] != "misc"}
        pred = predict(enricher, doc)
        mention.add(set(pred), set(gold))
        with_demonyms.add(set(predict(enricher, doc, demonyms=True)), set(gold))
        four.add(set(pred), set(gold_all))
        untyped.add({(a, b) for a, b, _ in pred}, {(a, b) for a, b, _ in gold_all})
        for kind, prf in per_type.items():
            prf.add({p for p in pred if p[2] == kind}, {g for g in gold if g[2] == kind})

        def names(spans: set[tuple[int, int, str]], d: ConllDoc = doc) -> set[object]:
            return {(" ".join(d.tokens[a:b]).lower(), k) for a, b, k in spans}

        document.add(names(pred), names(gold))
    return EntityScores(mention, document, four, untyped, per_type, with_demonyms, events, len(test))


def learned_enricher(base: Enricher, train: list[ConllDoc]) -> tuple[Enricher, int]:
    """``base`` with a copy of its vocabulary plus the events learned from ``train``."""
    from services.enrich.vocab_events import fold

    events = learn_events(train)
    vocabulary: Vocabulary = fold(base.vocabulary.copy(), list(events))
    vocabulary.build()
    return Enricher(vocabulary, base.topics, base.index, base.names), len(events)
