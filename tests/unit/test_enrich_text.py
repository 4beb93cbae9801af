"""HTML to text and lead extraction."""

from __future__ import annotations

import pytest

from services.enrich.text import _simple_parts, _TextCollector, html_to_text, lead, paragraphs


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
