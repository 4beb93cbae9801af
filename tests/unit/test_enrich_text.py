"""HTML to text and lead extraction."""

from __future__ import annotations

from services.enrich.text import html_to_text, lead, paragraphs


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
