"""The vocabulary matcher and the capitalisation heuristic."""

from __future__ import annotations

import pytest

from services.enrich.core import load_default_enricher
from services.enrich.vocabulary import (
    CONF_ADJECTIVE,
    Entry,
    NameFinder,
    Vocabulary,
    name_entity_id,
    slug,
)


def _place(n: int, name: str, *aliases: str, rank: int = 1, adjectives: tuple[str, ...] = ()) -> Entry:
    return Entry(f"geonames:{n}", name, "place", aliases, f"https://sws.geonames.org/{n}/", adjectives, rank)


@pytest.fixture
def vocab() -> Vocabulary:
    return Vocabulary(
        [
            _place(1, "York", rank=200_000),
            _place(2, "New York", "NYC", rank=8_000_000),
            _place(3, "Zürich", "Zurich", rank=400_000),
            _place(4, "Łódź", "Lodz", rank=600_000),
            _place(5, "United Kingdom", "UK", "Britain", rank=10**10, adjectives=("British",)),
            _place(6, "Guinea-Bissau", rank=10**10),
            Entry("newswire:person:yevgeny-prigozhin", "Yevgeny Prigozhin", "person", ("Prigozhin",)),
        ]
    )


def _ids(vocab: Vocabulary, text: str) -> list[str]:
    return [m.entry_id for m in vocab.find(text)]


def test_longest_overlapping_match_wins(vocab: Vocabulary) -> None:
    found = vocab.find("Flights to New York resumed.")
    assert [m.entry_id for m in found] == ["geonames:2"]
    assert found[0].start == len("Flights to ")


def test_word_boundaries(vocab: Vocabulary) -> None:
    assert _ids(vocab, "Yorkshire and Newark") == []
    assert _ids(vocab, "in York.") == ["geonames:1"]


def test_possessive_and_curly_possessive(vocab: Vocabulary) -> None:
    assert _ids(vocab, "Prigozhin's mercenaries and Prigozhin’s men") == ["newswire:person:yevgeny-prigozhin"] * 2


def test_case_must_match(vocab: Vocabulary) -> None:
    assert _ids(vocab, "the uk and britain") == []  # lowercase never matches a capitalised alias
    assert _ids(vocab, "the Uk said") == []  # an acronym must match exactly
    assert _ids(vocab, "the UK said") == ["geonames:5"]
    assert _ids(vocab, "ZÜRICH WINS") == ["geonames:3"]  # an all-caps headline matches


def test_hyphens(vocab: Vocabulary) -> None:
    assert _ids(vocab, "Guinea-Bissau votes") == ["geonames:6"]
    assert _ids(vocab, "a British-led team") == ["geonames:5"]
    assert _ids(vocab, "the York-based firm") == ["geonames:1"]


def test_non_ascii_names_and_folded_forms(vocab: Vocabulary) -> None:
    assert _ids(vocab, "From Zürich to Łódź, then Zurich and Lodz.") == ["geonames:3", "geonames:4"] * 2
    assert vocab.find("Łódź")[0].name == "Łódź"


def test_demonyms_have_lower_confidence(vocab: Vocabulary) -> None:
    (m,) = vocab.find("British officials")
    assert m.entry_id == "geonames:5" and m.confidence == CONF_ADJECTIVE
    assert vocab.find("Britain")[0].confidence > CONF_ADJECTIVE


def test_add_retire_alias(vocab: Vocabulary) -> None:
    assert _ids(vocab, "Big Apple") == []
    vocab.alias("geonames:2", "Big Apple")
    assert _ids(vocab, "the Big Apple") == ["geonames:2"]
    vocab.retire("geonames:2")
    assert _ids(vocab, "New York") == ["geonames:1"]  # only the shorter entry is left
    vocab.add(Entry("newswire:organisation:acme", "Acme Corp", "organisation"))
    assert _ids(vocab, "Acme Corp shares") == ["newswire:organisation:acme"]
    with pytest.raises(ValueError):
        Entry("x", "X", "thing")  # type: ignore[arg-type]


def test_stable_ids_for_unknown_names() -> None:
    assert slug("Yevgeny Prigozhin") == "yevgeny-prigozhin"
    assert slug("Łódź Café al-Nour") == "lodz-cafe-al-nour"
    assert name_entity_id("person", "Yevgeny Prigozhin") == (
        "newswire:person:yevgeny-prigozhin",
        "urn:newswire:entity:person:yevgeny-prigozhin",
    )


def _names(text: str) -> dict[str, str]:
    vocab = Vocabulary([_place(5, "United Kingdom", "UK", "Britain", rank=10**10)])
    result = NameFinder(["said", "studies"]).find(text, vocab.find(text), vocab)
    return {m.name: m.type for m in result.mentions}


def test_heuristic_types_organisations_people_and_titles() -> None:
    found = _names(
        "The Acme Group hired Maria Sanchez last year. President Boris Ivanov met Ms Kowalski. "
        "Sanchez said the Ministry of Defence agreed."
    )
    assert found == {
        "Acme Group": "organisation",
        "Maria Sanchez": "person",
        "Boris Ivanov": "person",
        "Kowalski": "person",
        "Ministry of Defence": "organisation",
    }


def test_a_person_of_an_organisation_is_two_names_but_an_organisation_named_head_first_is_one() -> None:
    found = _names(
        "Ingrid Haddad of Vijayapura Energy Company said the deal was done. Haddad said so again. "
        "The Bank of England, the Port of Gebze Group and the Royal Bank of Scotland Group agreed."
    )
    assert found == {
        "Ingrid Haddad": "person",
        "Vijayapura Energy Company": "organisation",
        "Bank of England": "organisation",
        "Port of Gebze Group": "organisation",
        "Royal Bank of Scotland Group": "organisation",
    }


def test_surname_and_org_short_forms_resolve_to_the_same_entity() -> None:
    vocab = Vocabulary()
    text = "Spokesperson Olena Marchuk of the Orion Group said so. Later, Marchuk said Orion fighters left."
    result = NameFinder().find(text, [], vocab)
    ids = [m.entry_id for m in result.mentions]
    assert ids.count("newswire:person:olena-marchuk") == 2
    assert ids.count("newswire:organisation:orion-group") == 2


def test_an_organisation_short_form_goes_to_the_one_longer_name_it_ends() -> None:
    text = ("The State Border Guard Service said so. The Border Guard Service agreed. The Port of Gebze Group "
            "and the Bank of Gebze Group both grew. The Gebze Group said nothing.")
    result = NameFinder().find(text, [], Vocabulary())
    names = [(text[m.start : m.end], m.name) for m in result.mentions]
    assert ("Border Guard Service", "State Border Guard Service") in names  # a chain: the longest
    # two longer names of the same length end with it: it is neither of them, whichever was found first
    assert ("Gebze Group", "Gebze Group") in names


def test_sentence_initial_and_date_words_are_not_names() -> None:
    vocab = Vocabulary()
    text = "Fortunately, nothing happened. Photo by staff. On Feb. 15 and in March, Tuesday came."
    result = NameFinder().find(text, [], vocab)
    assert result.mentions == []


def test_place_inside_a_person_name_is_overruled() -> None:
    vocab = Vocabulary([_place(7, "Martin", rank=50_000)])
    text = "Martin Fornusek is a reporter. Martin often writes."
    result = NameFinder().find(text, vocab.find(text), vocab)
    assert {m.start for m in vocab.find(text)} <= result.suppressed
    assert {m.name for m in result.mentions} == {"Martin Fornusek"}


def test_default_vocabulary_has_countries_aliases_and_cities() -> None:
    vocab = load_default_enricher().vocabulary
    text = "Russian Federation, Russia, UK, Britain, United States, US, Belarus, Ukraine, Minsk, Asipovichy, Łódź, Zürich"
    names = [m.name for m in vocab.find(text)]
    assert names == [
        "Russia",
        "Russia",
        "United Kingdom",
        "United Kingdom",
        "United States",
        "United States",
        "Belarus",
        "Ukraine",
        "Minsk",
        "Osipovichi",
        "Łódź",
        "Zürich",
    ]
    assert vocab.find("Kyiv")[0].uri == "https://sws.geonames.org/703448/"
    # Common words are never places, whatever the capitalisation.
    assert vocab.find("Reading Of Police Split Nice Mobile") == []


# Golden: the tags of our own fixture stories, captured before the name finder was made faster
# (tokenising only around capitalised words must not change a single tag or suggestion).
_GOLDEN_TAGS = {
    "BELARUS_EARLIER": (
        [
            ("geonames:630336", "Belarus", "place", 0.95, "newswire-vocab/1@0"),
            ("geonames:2017370", "Russia", "place", 0.8, "newswire-vocab/1@0"),
            ("geonames:624034", "Osipovichi", "place", 0.9, "newswire-vocab/1@0"),
            ("geonames:625144", "Minsk", "place", 0.95, "newswire-vocab/1@0"),
            ("geonames:690791", "Ukraine", "place", 0.95, "newswire-vocab/1@0"),
        ],
        [],
    ),
    "RUSSIA_LEAVES_BELARUS": (
        [
            ("geonames:2017370", "Russia", "place", 0.95, "newswire-vocab/1@0"),
            ("geonames:630336", "Belarus", "place", 0.95, "newswire-vocab/1@0"),
            ("geonames:690791", "Ukraine", "place", 0.95, "newswire-vocab/1@0"),
            ("geonames:703448", "Kyiv", "place", 0.95, "newswire-vocab/1@0"),
            (
                "newswire:organisation:state-border-guard-service",
                "State Border Guard Service",
                "organisation",
                0.6,
                "newswire-names/1",
            ),
            ("newswire:person:andrii-demchenko", "Andrii Demchenko", "person", 0.6, "newswire-names/1"),
            ("geonames:624034", "Osipovichi", "place", 0.9, "newswire-vocab/1@0"),
            ("newswire:organisation:wagner-group", "Wagner Group", "organisation", 0.6, "newswire-names/1"),
            ("newswire:person:yevgeny-prigozhin", "Yevgeny Prigozhin", "person", 0.6, "newswire-names/1"),
            ("geonames:524901", "Moscow", "place", 0.95, "newswire-vocab/1@0"),
        ],
        [],
    ),
    "UNRELATED_SPORT": ([], ["Harbour City"]),
}


@pytest.mark.parametrize("story", sorted(_GOLDEN_TAGS))
def test_fixture_story_tags_are_unchanged(story: str) -> None:
    from services.enrich.text import html_to_text
    from tests import fixtures

    filed = getattr(fixtures, story)
    tags, suggestions = load_default_enricher().entities(filed["headline"], html_to_text(filed["body"]))
    assert [(t.id, t.name, t.type, t.confidence, t.creator) for t in tags] == _GOLDEN_TAGS[story][0]
    assert suggestions == _GOLDEN_TAGS[story][1]


@pytest.mark.parametrize(
    "text",
    ["Plain ASCII: U.S. troops_in 2024-25!", "Zürich’s “Łódź” — £5 İstanbul", "", "é", "ﬁne\u0301 x\u00a0y"],
)
def test_spaced_keeps_letters_and_digits_and_length(text: str) -> None:
    import re

    from services.enrich.text import spaced, spaced_but_apostrophes

    assert spaced(text) == re.sub(r"[\W_]", " ", text)
    assert spaced_but_apostrophes(text) == re.sub(r"[^\w']", " ", text)


def test_a_city_in_a_results_line_is_its_team() -> None:
    vocab = Vocabulary([_place(8, "Barcelona", rank=1_600_000), _place(9, "Detroit", rank=600_000),
                        _place(10, "Spain", rank=10**10)])
    text = ("Barcelona 15 10 4 1 46-19 34\nCLEVELAND AT DETROIT\nSpain 15 9 3 3 30:12 30\n"
            "Fans in Barcelona saw 2 goals in 90 minutes.\nDetroit 3.5 x2 4_4 v1.2 (no results here)")
    result = NameFinder().find(text, vocab.find(text), vocab)
    teams = [(m.start, m.name) for m in result.mentions if m.type == "organisation"]
    assert teams == [(0, "Barcelona"), (text.index("DETROIT"), "DETROIT")]  # a country stays a place (its national side)
    assert text.index("Barcelona saw") not in result.suppressed and text.index("Detroit 3.5") not in result.suppressed


def test_the_number_pattern_of_results_lines_finds_the_numbers_of_the_rule() -> None:
    import re

    from services.enrich.vocabulary import _TABLE_NUMBER

    rule = re.compile(r"(?<![\w.])\d+(?:[-.:]\d+)?(?![\w.])")  # a number not inside a word or a decimal
    for line in ["Barcelona 15 10 4 1 46-19 34", "3.5 x2 4_4 v1.2 12:30 1-0-1 .5 5. ٣٤ 7", "a1 1a _1 1_ 1.2.3 -4"]:
        assert _TABLE_NUMBER.findall(line) == rule.findall(line)


def test_lowercasing_keeps_letters_and_digits_so_the_automaton_finds_word_boundaries() -> None:
    """The matcher takes the automaton's hits as word-bounded without looking at the text again:
    every character that ``lower_same_length`` lowercases is a letter or digit exactly when its
    lowercase form is one."""
    from services.enrich.vocabulary import lower_same_length

    every = "".join(map(chr, range(0x110000)))
    lowered = lower_same_length(every)
    assert len(lowered) == len(every)
    assert [c for c, low in zip(every, lowered, strict=True) if c.isalnum() != low.isalnum()] == []
