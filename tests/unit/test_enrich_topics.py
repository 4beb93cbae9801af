"""IPTC Media Topic rules."""

from __future__ import annotations

import pytest

from services.enrich.core import DATA_DIR
from services.enrich.topics import RULES, Rule, Topic, TopicRules


@pytest.fixture(scope="module")
def rules() -> TopicRules:
    return TopicRules.from_file(DATA_DIR / "mediatopics.json")


def test_vendored_topics_have_the_17_top_levels_and_no_retired_codes(rules: TopicRules) -> None:
    tops = [t for t in rules.topics.values() if t.level == 1]
    assert len(tops) == 17
    assert rules.topics["medtop:16000000"].name == "conflict, war and peace"
    assert rules.topics["medtop:20000062"].parent == "medtop:20000056"  # war < armed conflict
    assert rules.topics["medtop:20000056"].parent == "medtop:16000000"
    assert "medtop:20000191" not in rules.topics  # "stock option", retired


def test_every_rule_targets_a_current_topic(rules: TopicRules) -> None:
    assert all(r.code in rules.topics for r in RULES)
    with pytest.raises(ValueError):
        TopicRules([Topic("medtop:01000000", "arts", None, 1)], [Rule("medtop:99999999", {"x": 1.0})])


def test_military_story_is_conflict_war_and_peace(rules: TopicRules) -> None:
    subjects = rules.subjects(
        "Mercenaries end insurrection as troops withdraw",
        "Military commanders said the soldiers and mercenaries would leave after the mutiny. Troops left.",
    )
    top = subjects[0]
    assert top.code == "medtop:16000000"
    assert top.uri == "http://cv.iptc.org/newscodes/mediatopic/16000000"
    assert top.relevance == 100 and 0 < top.confidence <= 99
    assert top.creator == "newswire-rules/1"


def test_children_bring_their_parent_and_scores_are_ordered(rules: TopicRules) -> None:
    subjects = rules.subjects(
        "Striker scores twice as City win the Premier League",
        "The striker scored in the football match; the goalkeeper and fans at the stadium cheered the team.",
    )
    codes = [s.code for s in subjects]
    assert codes[0] == "medtop:15000000"
    assert "medtop:20000822" in codes
    assert [s.relevance for s in subjects] == sorted((s.relevance for s in subjects), reverse=True)


def test_exclusions_and_threshold(rules: TopicRules) -> None:
    codes = {s.code for s in rules.subjects("Supermarket price war heats up", "A price war between grocers.")}
    assert "medtop:16000000" not in codes and "medtop:20000062" not in codes
    assert rules.subjects("A quiet afternoon", "Nothing much happened in the village today.") == []


def test_economy_interest_rates(rules: TopicRules) -> None:
    codes = {
        s.code
        for s in rules.subjects(
            "Central bank raises interest rates",
            "Inflation and the economy pushed the central bank to raise interest rates; markets fell.",
        )
    }
    assert {"medtop:04000000", "medtop:20000371"} <= codes


_GOLDEN_SUBJECTS = {
    "BELARUS_EARLIER": [("medtop:15000000", 100, 53), ("medtop:16000000", 100, 53), ("medtop:11000000", 67, 39)],
    "RUSSIA_LEAVES_BELARUS": [("medtop:16000000", 100, 99)],
    "UNRELATED_SPORT": [("medtop:15000000", 100, 99), ("medtop:20000822", 53, 81)],
}


@pytest.mark.parametrize("story", sorted(_GOLDEN_SUBJECTS))
def test_fixture_story_subjects_are_unchanged(rules: TopicRules, story: str) -> None:
    from services.enrich.text import html_to_text
    from tests import fixtures

    filed = getattr(fixtures, story)
    subjects = rules.subjects(filed["headline"], html_to_text(filed["body"]))
    assert [(s.code, s.relevance, s.confidence) for s in subjects] == _GOLDEN_SUBJECTS[story]


def test_stemming_is_the_same_from_the_word_cache(rules: TopicRules) -> None:
    fresh = TopicRules(rules.topics.values())
    text = "Troops and troop movements: the soldiers' peace talks, Russia’s army and armies."
    direct = list(
        fresh._stemmer.stemWords(
            ["troops", "and", "troop", "movements", "the", "soldiers", "peace", "talks", "russia", "s", "army", "and", "armies"]
        )
    )
    assert fresh._stems(text) == direct
    assert fresh._stems(text) == rules._stems(text) == direct  # from the cache the second time


def test_the_word_splitter_finds_what_the_word_pattern_finds() -> None:
    from services.enrich.topics import _WORD, _words

    texts = [
        "russia's troops left; o'neill's side won 3-1 at st. james' park",
        "snake_case words, a_b's, russia's_x and __init__ stay as the pattern splits them",
        "''s 's' x'y'z rock'n'roll l'été d'artagnan's 'quoted' ’tis",
        "zürich, łódź and são paulo: “quotes” — dashes – and ½ or ² signs",
        "ab'ç çb'a 東京's 3'4 a'_b '",
        "",
    ]
    for text in texts:
        assert _words(text) == _WORD.findall(text), text
