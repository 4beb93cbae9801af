"""Growing the vocabulary from the archive: names the rules found that recur across stories (pure).

The name rules publish names that are not in the vocabulary as lower-confidence tags. A name that
keeps coming back in different stories is a candidate entry; ``recurring_names`` ranks them for the
editors (``newswire vocab suggest``), who add the ones they trust with ``newswire vocab add``. Nothing
here changes the vocabulary by itself: published tags from the vocabulary stay curated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from services.enrich.vocabulary import Vocabulary

MIN_STORIES = 3


@dataclass(frozen=True, slots=True)
class Suggestion:
    entry_id: str
    name: str
    type: str
    stories: int


def recurring_names(
    tags: Iterable[tuple[str, str, str, str]], vocabulary: Vocabulary, min_stories: int = MIN_STORIES
) -> list[Suggestion]:
    """``tags`` are (article id, tag id, name, type) of published items (latest version of each).

    Returns the tags not in ``vocabulary`` that appear in at least ``min_stories`` distinct articles,
    most frequent first (ties: by id).
    """
    articles: dict[str, set[str]] = defaultdict(set)
    named: dict[str, tuple[str, str]] = {}
    for article_id, tag_id, name, kind in tags:
        if tag_id in vocabulary or not tag_id.startswith("newswire:"):
            continue
        articles[tag_id].add(article_id)
        named.setdefault(tag_id, (name, kind))
    found = [
        Suggestion(tag_id, named[tag_id][0], named[tag_id][1], len(ids))
        for tag_id, ids in articles.items()
        if len(ids) >= min_stories
    ]
    return sorted(found, key=lambda s: (-s.stories, s.entry_id))
