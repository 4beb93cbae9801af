"""Names the rules keep finding become suggestions for the vocabulary, never entries by themselves."""

from __future__ import annotations

from services.enrich.suggest import Suggestion, recurring_names
from services.enrich.vocabulary import Entry, Vocabulary

MARCHUK = "newswire:person:olena-marchuk"


def test_names_recurring_in_enough_stories_are_suggested_most_frequent_first() -> None:
    vocab = Vocabulary([Entry("newswire:organisation:wagner-group", "Wagner Group", "organisation")])
    tags = [
        *[(f"a{i}", MARCHUK, "Olena Marchuk", "person") for i in range(4)],
        ("a0", MARCHUK, "Olena Marchuk", "person"),  # twice in one story counts once
        *[(f"a{i}", "newswire:organisation:orion-group", "Orion Group", "organisation") for i in range(3)],
        *[(f"a{i}", "newswire:organisation:wagner-group", "Wagner Group", "organisation") for i in range(9)],  # known
        *[(f"a{i}", "geonames:625144", "Minsk", "place") for i in range(9)],  # a seed id, not a rule's
        ("a1", "newswire:person:once", "Once", "person"),
    ]
    assert recurring_names(tags, vocab, min_stories=3) == [
        Suggestion(MARCHUK, "Olena Marchuk", "person", 4),
        Suggestion("newswire:organisation:orion-group", "Orion Group", "organisation", 3),
    ]
    assert recurring_names(tags, vocab, min_stories=5) == []
