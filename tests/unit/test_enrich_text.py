"""HTML to text and lead extraction."""

from __future__ import annotations

import gc

import pytest

from services.enrich.text import _simple_parts, _TextCollector, html_to_text, lead, paragraphs, stem_words, uncached_stemmer


def test_tags_are_stripped_and_paragraphs_kept() -> None:
    html = "<p>First <b>bold</b> line.</p><p>Second &amp; last</p><script>alert(1)</script>"
    text = html_to_text(html)
    assert text == "First bold line.\n\nSecond & last"
    assert paragraphs(text) == ["First bold line.", "Second & last"]


def test_br_and_whitespace_are_normalised() -> None:
    assert html_to_text("<div>a\n  b<br>c</div>") == "a b\n\nc"


def test_lead_cuts_at_a_word_boundary() -> None:
    text = ("word " * 100).strip()
    short = lead(text, limit=50)
    assert len(short) <= 50
    assert short.endswith("word")
    assert lead("Short text.") == "Short text."


@pytest.mark.parametrize(
    "html",
    [
        "<p>Plain <b>bold</b> and <a href=\"/x?a=1\" class='c'>a link</a>.</p><p>Second</p>",
        '<DIV id="top">Fish &amp; chips&nbsp;&#8217;n&eacute; AT&T</div><br/><br />tail',
        "<p>a < b</p>",  # a stray "<": the parser's rules
        "<p>x</p><script>var s = '<p>';</script><!-- c --><p>y</p>",
        "<ul><li>one</li><li>two</ul>\n\n<hr/>  end  ",
    ],
)
def test_the_regex_fast_path_gives_what_the_html_parser_gives(html: str) -> None:
    parser = _TextCollector()
    parser.feed(html)
    parser.close()
    parts = _simple_parts(html)
    if parts is not None:
        assert "".join(parts) == "".join(parser.parts)
    assert html_to_text(html) == html_to_text(html + "<!-- forces the parser -->")


@pytest.mark.parametrize(
    "html",
    [
        "<p> a \n b\t\tc \r\n</p>\n \n<p>\u00a0d\u00a0 e </p>",
        "x\n\n\n  y \n\t\n z\n",
        "\n \n lead \u2003 em\u2003space\n\nline\u2028sep \x1c and \u00a0 nbsp",  # kept as they are
        "<div>only one\nnewline</div>",
        "  \n\n  ",
    ],
)
def test_paragraphs_are_split_and_their_spaces_collapsed_as_the_rule_says(html: str) -> None:
    """Paragraphs end at two newlines with only whitespace between; inside one, a newline or a run
    of spaces, tabs, returns and no-break spaces is one space; other whitespace stays as it is."""
    import re

    raw = "".join(_simple_parts(html) or [])
    paras = (re.sub(r"[ \t\r\f\v\u00a0]+", " ", p.replace("\n", " ")).strip() for p in re.split(r"\s*\n\s*\n\s*", raw))
    assert html_to_text(html) == "\n\n".join(p for p in paras if p)


@pytest.mark.parametrize("spaces", [" ", " \n\t  ", "          " * 30])
def test_a_long_text_gives_the_lead_of_all_its_words(spaces: str) -> None:
    """The lead is read from the start of a long text only; however much whitespace the start holds,
    it is the lead of all the text's words joined by single spaces."""
    words = [f"word{n}," if n % 7 == 6 else f"word{n}" for n in range(400)]
    text = spaces.join(words)
    flat = " ".join(words)
    cut = flat.rfind(" ", 0, 301)
    assert lead(text) == flat[:cut].rstrip(" ,;:")
    assert lead(spaces.join(words[:3])) == " ".join(words[:3])


def test_stems_are_cached_in_a_dict_the_collector_does_not_track_and_a_full_cache_starts_again() -> None:
    stemmer = uncached_stemmer()
    cache: dict[str, str] = {}
    assert stem_words(stemmer, cache, ["running", "troops", "running"], most=4) == ["run", "troop", "run"]
    assert cache == {"running": "run", "troops": "troop"}
    assert not gc.is_tracked(cache)  # strings only: nothing for a full collection to walk
    # Full: the cache starts again with this call's words, the ones it knew included.
    assert stem_words(stemmer, cache, ["running", "borders", "guards", "pulled"], most=4) == ["run", "border", "guard", "pull"]
    assert cache == {"running": "run", "borders": "border", "guards": "guard", "pulled": "pull"}
    assert stem_words(stemmer, cache, ["guards"], most=4) == ["guard"]


def test_the_stemmer_keeps_no_cache_of_its_own() -> None:
    stemmer = uncached_stemmer()
    before = sum(1 for o in gc.get_objects() if type(o) is list)
    stemmer.stemWords([f"word{i}s" for i in range(500)])
    assert sum(1 for o in gc.get_objects() if type(o) is list) < before + 50
