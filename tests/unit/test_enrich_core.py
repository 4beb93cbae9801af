"""The Enricher end to end on a story written for this test, with the vendored data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.events import ArticleFiled
from services.enrich.core import RELATED_K, Enricher, Enrichment, load_default_enricher
from services.enrich.related import RelatedIndex
from services.enrich.text import html_to_text, lead

NOW = datetime(2026, 4, 2, 10, tzinfo=UTC)

HEADLINE = "Russian troops quit Belarus as Wagner fighters settle near Asipovichy"
BODY = """
<p>Russia has pulled most of its soldiers out of Belarus after a training rotation, a spokesperson
for Ukraine's State Border Guard Service, Andrii Demchenko, told reporters on Tuesday.</p>
<p>“Fewer Russian units remain on Belarusian soil than at any time this year,” Demchenko said,
adding that the military threat to Ukraine from the north had eased but not gone.</p>
<p>Fighters of the Wagner Group moved to Belarus after their leader, Yevgeny Prigozhin, led a
short-lived mutiny against the army command. Prigozhin's men are housed at a camp near
Asipovichy, about 90 km south-east of Minsk.</p>
<p>Officials in Minsk said the camp would be used to train territorial defence forces.</p>
"""


def _filed(article_id: str, headline: str, body: str) -> ArticleFiled:
    return ArticleFiled(
        event_id=f"ev-{article_id}",
        article_id=article_id,
        version=1,
        occurred_at=NOW,
        correlation_id="corr",
        headline=headline,
        body_html=body,
    )


@pytest.fixture
def enricher() -> Enricher:
    default = load_default_enricher()
    return Enricher(default.vocabulary, default.topics, RelatedIndex(), default.names)


def test_story_tags_have_the_right_types(enricher: Enricher) -> None:
    result = enricher.enrich(_filed("a-1", HEADLINE, BODY), NOW)
    assert isinstance(result, Enrichment)
    by_name = {t.name: t for t in result.tags}
    expected = {
        "Russia": ("place", "geonames:2017370"),
        "Belarus": ("place", "geonames:630336"),
        "Ukraine": ("place", "geonames:690791"),
        "Minsk": ("place", "geonames:625144"),
        "Osipovichi": ("place", "geonames:624034"),  # GeoNames' name for Asipovichy
        "Wagner Group": ("organisation", "newswire:organisation:wagner-group"),
        "State Border Guard Service": ("organisation", "newswire:organisation:state-border-guard-service"),
        "Yevgeny Prigozhin": ("person", "newswire:person:yevgeny-prigozhin"),
        "Andrii Demchenko": ("person", "newswire:person:andrii-demchenko"),
    }
    for name, (kind, entity_id) in expected.items():
        assert name in by_name, name
        assert (by_name[name].type, by_name[name].id) == (kind, entity_id)
    assert set(by_name) == set(expected)  # nothing else: no "Tuesday", no "Fewer", no "Officials"
    assert by_name["Russia"].confidence >= 0.9 and by_name["Russia"].creator == "newswire-vocab/1@0"
    assert by_name["Yevgeny Prigozhin"].uri == "urn:newswire:entity:person:yevgeny-prigozhin"
    assert by_name["Yevgeny Prigozhin"].confidence < 0.9
    assert by_name["Yevgeny Prigozhin"].creator == "newswire-names/1"
    assert result.subjects[0].code == "medtop:16000000"
    assert result.lead.startswith("Russia has pulled most of its soldiers")


def test_related_links_come_from_earlier_articles_only(enricher: Enricher) -> None:
    first = _filed(
        "a-0",
        "Russian soldiers arrive in Belarus for drills",
        "<p>Russian troops reached Belarus for exercises near Ukraine.</p>",
    )
    earlier = enricher.enrich(first, NOW - timedelta(days=3))
    assert earlier.related == []
    enricher.index_article("a-0", first.headline, earlier.lead, [t.id for t in earlier.tags], NOW - timedelta(days=3))
    sport = _filed("s-1", "Tennis star wins title", "<p>The top seed won the final in straight sets at the open.</p>")
    enricher.index_article("s-1", sport.headline, "The top seed won the final in straight sets.", [], NOW - timedelta(days=2))

    result = enricher.enrich(_filed("a-1", HEADLINE, BODY), NOW)
    assert [r.article_id for r in result.related] == ["a-0"]

    # A new version of an indexed article never links to itself.
    again = enricher.enrich(_filed("a-0", first.headline, first.body_html), NOW)
    assert "a-0" not in [r.article_id for r in again.related]


def test_enrich_is_deterministic(enricher: Enricher) -> None:
    filed = _filed("a-1", HEADLINE, BODY)
    assert enricher.enrich(filed, NOW) == enricher.enrich(filed, NOW)


def test_names_in_a_picture_credit_are_not_tags(enricher: Enricher) -> None:
    body = ("<p>Border guards check cars near Brest. (Photo by NATALIA KOLESNIKOVA/AFP via Getty Images)</p>"
            "<p>Russia has pulled its troops out of Belarus.</p>")
    tags, _ = enricher.entities("Troops leave Belarus", body.replace("<p>", "").replace("</p>", "\n\n"))
    names = {t.name for t in tags}
    assert {"Brest", "Russia", "Belarus"} <= names
    assert not names & {"Agence France-Presse", "Getty Images", "Natalia Kolesnikova"}


def test_a_batch_enriched_step_by_step_gives_each_article_what_enrich_gives_it(enricher: Enricher) -> None:
    """``enrich_many`` runs each step over the whole batch; every article gets what ``enrich`` alone gives
    it, and one whose enrichment fails gets its exception without the others noticing."""
    from bench.stories import filed_story
    from services.enrich.topics import TopicRules

    archive = [filed_story(n, 3, NOW - timedelta(hours=1), "desk") for n in range(40)]
    for event in archive:
        found = enricher.enrich(event, NOW - timedelta(hours=1))
        enricher.index_article(event.article_id, event.headline, found.lead, [t.id for t in found.tags],
                               NOW - timedelta(minutes=30))
    batch = [_filed("a-1", HEADLINE, BODY), *(filed_story(n, 3, NOW, "desk") for n in range(40, 52))]

    def written_out(event: ArticleFiled) -> Enrichment:  # each part in turn, for one story
        text = html_to_text(event.body_html)
        tags, suggestions = enricher.entities(event.headline, text)
        related = enricher.index.search(event.headline, lead(text), [t.id for t in tags], now=NOW, k=RELATED_K,
                                        exclude_article_id=event.article_id)
        return Enrichment(tags=tags, subjects=enricher.topics.subjects(event.headline, text), related=related,
                          lead=lead(text), suggestions=suggestions)

    one_by_one = [written_out(event) for event in batch]
    assert [enricher.enrich(event, NOW) for event in batch] == one_by_one
    assert enricher.enrich_many(batch, NOW) == one_by_one
    assert any(e.related for e in one_by_one)  # the batch searched an archive, not an empty index

    class Failing(TopicRules):
        def subjects(self, headline: str, body: str) -> list[Any]:
            if headline == batch[3].headline:
                raise ValueError("no subjects for this one")
            return super().subjects(headline, body)

    failing = Failing(enricher.topics.topics.values())
    broken = Enricher(enricher.vocabulary, failing, enricher.index, enricher.names)
    found = broken.enrich_many(batch, NOW)
    assert isinstance(found[3], ValueError) and str(found[3]) == "no subjects for this one"
    assert found[:3] + found[4:] == one_by_one[:3] + one_by_one[4:]
    with pytest.raises(ValueError, match="no subjects"):
        broken.enrich(batch[3], NOW)


def test_enriching_and_indexing_leave_nothing_for_the_garbage_collector(enricher: Enricher) -> None:
    """Everything a story's enrichment makes is freed by reference counting as soon as it is done with:
    garbage in reference cycles waits for the collector, whose passes pause the enrich worker (a
    recursive closure in the name rules once left some 140 objects a story)."""
    import gc

    from bench.stories import filed_story

    stories = [_filed("a-1", HEADLINE, BODY), *(filed_story(n, 5, NOW, "desk") for n in range(30))]
    enricher.enrich_many(stories[:2], NOW)  # caches filled before counting
    gc.collect()
    gc.disable()
    try:
        for event in stories:
            found = enricher.enrich(event, NOW)
            enricher.index_article(event.article_id, event.headline, found.lead, [t.id for t in found.tags], NOW)
        enricher.enrich_many(stories, NOW)
        assert gc.collect() == 0
    finally:
        gc.enable()
