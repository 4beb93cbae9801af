"""The pure enrichment core: entity tags, IPTC subjects and related links for a filed article.

No I/O at call time, no clock, no randomness: ``now`` is passed in and all data is loaded up front.
``load_default_enricher`` reads the vendored data once (about 0.7 s, see its docstring).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import msgspec

from schemas.events import ArticleContent, EntityTag, RelatedLink, SubjectTag
from services.enrich.related import RelatedIndex
from services.enrich.text import html_to_text, lead
from services.enrich.topics import MEDIA_TOPICS, TopicRules
from services.enrich.vocabulary import Mention, NameFinder, NameResult, Vocabulary, load_vocabulary

if TYPE_CHECKING:
    from services.enrich.semantic import Embedder

T = TypeVar("T")
DATA_DIR = Path(__file__).resolve().parent / "data"
_CREDIT = re.compile(r"\((?:photos?|pictures?|images?|credit|photograph)(?: by|:)[^()]*\)", re.IGNORECASE)
RELATED_K = 5


class Enrichment(msgspec.Struct, frozen=True, kw_only=True):
    """What the core found for one article. ``suggestions`` are untyped names for review only."""

    tags: list[EntityTag]
    subjects: list[SubjectTag]
    related: list[RelatedLink]
    lead: str = ""
    suggestions: list[str] = []


class Enricher:
    """Composes the vocabulary matcher, the name heuristic, topic rules and the related index."""

    def __init__(self, vocabulary: Vocabulary, topics: TopicRules, index: RelatedIndex, names: NameFinder | None = None) -> None:
        self.vocabulary = vocabulary
        self.topics = topics
        self.index = index
        self.names = names or NameFinder()

    def mentions(self, text: str) -> tuple[list[Mention], list[str]]:
        """Every entity mention in ``text`` (vocabulary and name rules, text order) and untyped suggestions.

        Names inside a picture credit ("(Photo by NATALIA KOLESNIKOVA/AFP via Getty Images)") are not
        about the story and are left out.
        """
        found = self.vocabulary.find(text)
        return self._merged(text, found, self.names.find(text, found, self.vocabulary))

    @staticmethod
    def _merged(text: str, found: list[Mention], names: NameResult) -> tuple[list[Mention], list[str]]:
        """The vocabulary's mentions (``found``) and the name rules' (``names``), as ``mentions`` gives them."""
        mentions: list[Mention] = [m for m in found if m.start not in names.suppressed]
        mentions += names.mentions
        credits = [m.span() for m in _CREDIT.finditer(text)]
        if credits:
            mentions = [m for m in mentions if not any(a <= m.start < b for a, b in credits)]
        mentions.sort(key=lambda m: (m.start, -m.confidence))
        return mentions, names.suggestions

    def entities(self, headline: str, text: str) -> tuple[list[EntityTag], list[str]]:
        """Entity tags (first mention order) and untyped name suggestions."""
        return self._tags(*self.mentions(f"{headline}\n\n{text}"))

    @staticmethod
    def _tags(mentions: list[Mention], suggestions: list[str]) -> tuple[list[EntityTag], list[str]]:
        best: dict[str, Mention] = {}
        order: list[str] = []
        for m in mentions:
            seen = best.get(m.entry_id)
            if seen is None:
                order.append(m.entry_id)
                best[m.entry_id] = m
            elif m.confidence > seen.confidence:
                best[m.entry_id] = m
        tags = [
            EntityTag(id=m.entry_id, name=m.name, type=m.type, confidence=m.confidence, creator=m.creator, uri=m.uri)
            for m in (best[i] for i in order)
        ]
        return tags, suggestions

    def enrich(self, filed: ArticleContent, now: datetime) -> Enrichment:
        found = self.enrich_many([filed], now)[0]
        if isinstance(found, Exception):
            raise found
        return found

    def enrich_many(self, filed: Sequence[ArticleContent], now: datetime) -> list[Enrichment | Exception]:
        """The enrichment of each article of a batch, or the exception its enrichment raised: for each
        article what ``enrich`` gives, the others unaffected by one that fails.

        Each step runs over the whole batch before the next (the text, the vocabulary's mentions,
        the name rules, the subjects, the related links), so that one step's code and data stay in
        the processor's caches from one article to the next, instead of every step evicting the
        others' for every article (``python -m bench.warmth --batch 50`` compares the two). Nothing a
        step does for one article changes another's result: the index and the vocabulary do not
        change within a batch.
        """
        failed: list[Exception | None] = [None] * len(filed)

        def each(step: Callable[[int], T]) -> list[T]:
            out: list[T] = []
            for i in range(len(filed)):
                if failed[i] is None:
                    try:
                        out.append(step(i))
                        continue
                    except Exception as exc:
                        failed[i] = exc
                out.append(None)  # type: ignore[arg-type]  # never read: the article failed
            return out

        texts = each(lambda i: html_to_text(filed[i].body_html))
        leads = each(lambda i: lead(texts[i]))
        # the entities as ``entities`` finds them, in three steps: the vocabulary, the name rules, the tags
        whole = each(lambda i: f"{filed[i].headline}\n\n{texts[i]}")
        found = each(lambda i: self.vocabulary.find(whole[i]))
        names = each(lambda i: self.names.find(whole[i], found[i], self.vocabulary))
        entities = each(lambda i: self._tags(*self._merged(whole[i], found[i], names[i])))
        subjects = each(lambda i: self.topics.subjects(filed[i].headline, texts[i]))
        related = each(lambda i: self.index.search(
            filed[i].headline,
            leads[i],
            [t.id for t in entities[i][0]],
            now=now,
            k=RELATED_K,
            exclude_article_id=filed[i].article_id,
        ))
        return [failed[i] or Enrichment(tags=entities[i][0], subjects=subjects[i], related=related[i], lead=leads[i],
                                        suggestions=entities[i][1]) for i in range(len(filed))]

    def index_article(self, article_id: str, headline: str, lead: str, tag_ids: Iterable[str], published_at: datetime) -> None:
        """Add (or replace) an article in the related-links archive."""
        self.index.add(article_id, headline, lead, tag_ids, published_at)


@cache
def load_default_enricher() -> Enricher:
    """The enricher over the vendored data, loaded once per process and cached.

    Measured on 2 cores: 0.65-0.8 s including imports (reading 34k places and compiling the
    96k-alias automaton: 0.35 s and 0.45 s). The returned enricher owns one, initially empty, related index.
    """
    vocabulary, common_words = load_vocabulary(DATA_DIR / "vocabulary.json.gz")
    vocabulary.build()
    topics = TopicRules.from_file(MEDIA_TOPICS)
    return Enricher(vocabulary, topics, RelatedIndex(), NameFinder(common_words))


def new_enricher(embedder: Embedder | None = None) -> Enricher:
    """An enricher of its own for a worker: a copy of the seed vocabulary (vocabulary events change
    it) and an empty related index, sharing the read-only parts of ``load_default_enricher``.

    ``embedder`` (the optional semantic extra) makes the related index hybrid (``services.enrich.related``).
    """
    seed = load_default_enricher()
    vocabulary = seed.vocabulary.copy()
    vocabulary.build()
    return Enricher(vocabulary, seed.topics, RelatedIndex(embedder=embedder), seed.names)
