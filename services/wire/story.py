"""Reading a story file for ``newswire file``: JSON as the API takes it, or plain text."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

HEADER_FIELDS = {"headline": "headline", "byline": "byline", "dateline": "dateline", "urgency": "urgency",
                 "keywords": "keywords", "language": "language", "desk": "desk", "source": "source"}


def parse_text(text: str) -> dict[str, Any]:
    """A plain-text story: optional ``Name: value`` header lines and a blank line, then the body.

    Without a ``Headline:`` header the first non-empty line is the headline. Paragraphs of the
    body are separated by blank lines and become ``<p>`` elements.
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
    body_lines = [line.rstrip() for line in lines]
    if "headline" not in story:
        while body_lines and not body_lines[0].strip():
            body_lines.pop(0)
        story["headline"] = body_lines.pop(0).strip() if body_lines else ""
    paragraphs = [" ".join(p.split()) for p in "\n".join(body_lines).split("\n\n")]
    story["body"] = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p)
    return story


def load_story(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a story in JSON is an object")
        return loaded
    return parse_text(text)
