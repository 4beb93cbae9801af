"""Reading a story file for ``newswire file``: JSON as the API takes it, or plain text.

Plain text may be a story as written (optional header lines, a headline, paragraphs) or a story
copied from a news page, with the page's furniture around it. The rules that tell the two apart
are in :func:`parse_text`.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

HEADER_FIELDS = {"headline": "headline", "byline": "byline", "dateline": "dateline", "urgency": "urgency",
                 "keywords": "keywords", "language": "language", "desk": "desk", "source": "source"}

# How far down a copied page the headline's second copy may be (the title, then the article's own).
HEADLINE_REPEAT_WINDOW = 8
# A line that only a page shows: reading time, sharing and navigation words.
_FURNITURE = re.compile(
    r"^(\d+\s*min(ute)?s?\s+read|read more|show more|load more|share( this)?( article)?|advertisement|avatar|"
    r"reporter|correspondent|editor|sign up|subscribe|related( articles| stories)?|most read|comments?)$",
    re.IGNORECASE,
)
# The author box that closes many pages: "Jane Doe is a reporter for ...".
_AUTHOR_BIO = re.compile(
    r"^(?P<name>[A-Z][\w'’-]+(?: [A-Z][\w'’.-]+){1,3}) (?:is|was) an? (?:[\w-]+ ){0,3}"
    r"(?:reporter|correspondent|journalist|editor|writer|columnist|contributor)\b"
)
_SENTENCE_END = re.compile(r"[.!?…:][\"”’')\]]*$")  # a sentence's end, with any closing quotes


def _paragraphs(lines: list[str]) -> list[str]:
    """Blank-line separated paragraphs, each with its lines joined by single spaces."""
    out: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            out.append(" ".join(" ".join(current).split()))
            current = []
    return out


def _page_headline(units: list[str]) -> int | None:
    """The index of a copied page's headline: the first line of three words or more that the
    page shows twice near the top (its title, then the article's own heading)."""
    head = units[:HEADLINE_REPEAT_WINDOW]
    for index, unit in enumerate(head):
        if len(unit.split()) >= 3 and unit in head[index + 1:]:
            return index
    return None


def _strip_page_tail(paragraphs: list[str], story: dict[str, Any]) -> list[str]:
    """Cut the author box and the links after the story; the author's name becomes the byline."""
    for index, paragraph in enumerate(paragraphs):
        match = _AUTHOR_BIO.match(paragraph)
        if match and index > 0:
            story.setdefault("byline", match["name"])
            name = match["name"]
            paragraphs = paragraphs[:index]
            while paragraphs and (paragraphs[-1] == name or _FURNITURE.match(paragraphs[-1])):
                paragraphs.pop()
            break
    # Lines after the last sentence that end in no punctuation are links and navigation.
    while len(paragraphs) > 1 and not _SENTENCE_END.search(paragraphs[-1]):
        paragraphs.pop()
    return paragraphs


def parse_text(text: str) -> dict[str, Any]:
    """A plain-text story: optional ``Name: value`` header lines and a blank line, then the body.

    Without a ``Headline:`` header the first paragraph is the headline, unless the text is a
    copied news page: then the headline is the first line the page shows twice near the top
    (what comes before it is navigation, the second copy is dropped), lines only a page has
    ("2 min read", "Read more") are dropped, and so is the author box at the end ("Jane Doe is a
    reporter for ...", whose name becomes the byline when none is given) with the links after
    it. Paragraphs of the body become ``<p>`` elements.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    story: dict[str, Any] = {}
    index = 0
    while index < len(lines) and lines[index].strip():
        name, sep, value = lines[index].partition(":")
        key = HEADER_FIELDS.get(name.strip().lower())
        if not sep or key is None:
            break
        story[key] = value.strip()
        index += 1
    if story and (index == len(lines) or not lines[index].strip()):
        lines = lines[index:]
    else:
        story = {}
    if "urgency" in story:
        story["urgency"] = int(story["urgency"])
    if "keywords" in story:
        story["keywords"] = [k.strip() for k in story["keywords"].split(",") if k.strip()]
    units = [" ".join(line.split()) for line in lines if line.strip()]  # a copied page: one element a line
    page_headline = _page_headline(units)
    if page_headline is not None:
        headline = units[page_headline]
        rest = units[page_headline + 1:]
        if headline in rest[:HEADLINE_REPEAT_WINDOW]:
            rest.remove(headline)
        story.setdefault("headline", headline)
        paragraphs = _strip_page_tail([u for u in rest if not _FURNITURE.match(u)], story)
    else:
        paragraphs = _paragraphs(lines)
        if "headline" not in story:
            story["headline"] = paragraphs.pop(0) if paragraphs else ""
    story["body"] = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return story


def load_story(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a story in JSON is an object")
        return loaded
    return parse_text(text)
