"""HTML body to plain text (paragraphs kept as blank-line breaks), lead extraction, and the stemmer
the related links and the topic rules share."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import Stemmer  # type: ignore[import-not-found]

LEAD_CHARS = 300
STEMS_KEPT = 200_000  # distinct words whose stems a cache keeps; it starts again when it is full

_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
        "hr",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
# Two newlines with only whitespace between them end a paragraph. (The whitespace around them is
# stripped with the paragraph; a pattern that starts with ``\s*`` would be tried at every space.)
_BREAKS = re.compile(r"\n\s*\n")
_OTHER_SPACE = re.compile(r"[^\S \t\n\r\f\v\u00a0]")  # whitespace that a paragraph keeps as it is


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


# Simple markup (tags with quoted or bare attributes; no comments, scripts or stray "<"), as
# filed bodies almost always are, is split by one regex instead of ``HTMLParser``'s Python-level
# scanner; the parts are exactly those ``_TextCollector`` would collect. Anything else takes the parser.
_SIMPLE_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9]*)(?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:\"[^\"<>&]*\"|'[^'<>&]*'))?)*\s*(/?)>"
)


def _simple_parts(html: str) -> list[str] | None:
    pieces = _SIMPLE_TAG.split(html)  # text, (slash, name, self-closing, text)*
    parts: list[str] = []
    for i in range(0, len(pieces), 4):
        data = pieces[i]
        if "<" in data:
            return None
        if data:
            parts.append(unescape(data) if "&" in data else data)  # as ``convert_charrefs`` does
        if i + 3 < len(pieces):
            closing, name, self_closing = pieces[i + 1], pieces[i + 2].lower(), pieces[i + 3]
            if name in _SKIP_TAGS or (closing and self_closing):
                return None
            if name in _BLOCK_TAGS:
                parts.append("\n\n\n\n" if self_closing else "\n\n")  # <br/>: a start and an end tag
    return parts


def html_to_text(html: str) -> str:
    """Strip tags and decode entities; block elements and blank lines become paragraph breaks."""
    parts = _simple_parts(html)
    if parts is None:
        parser = _TextCollector()
        parser.feed(html)
        parser.close()
        parts = parser.parts
    raw = "".join(parts)
    # A single newline inside a paragraph is just a space, and so is a run of spaces and tabs. Without
    # other whitespace (em spaces, line separators), splitting and joining words does exactly that.
    if _OTHER_SPACE.search(raw) is None:
        paras = (" ".join(p.split()) for p in _BREAKS.split(raw))
    else:
        paras = (_SPACES.sub(" ", p.replace("\n", " ")).strip() for p in _BREAKS.split(raw))
    return "\n\n".join(p for p in paras if p)


class _Spacer:
    """Every character that is not a letter or digit, nor one of ``keep``, becomes a space (same length).

    ASCII runs go through ``bytes.translate`` (no per-match work, unlike ``re.sub`` with a match for
    every space); the few non-ASCII runs (quotes, dashes, accented letters) through a regex.
    """

    _NON_ASCII_RUN = re.compile(r"([^\x00-\x7f]+)")

    def __init__(self, keep: str = "") -> None:
        self.table = bytes(c if chr(c).isalnum() or chr(c) in keep else 32 for c in range(128)) + bytes(range(128, 256))
        # ``[\W_]`` is exactly "not ``str.isalnum``"; less what is kept
        self.other = re.compile(r"(?![" + re.escape(keep) + r"])[\W_]") if keep else re.compile(r"[\W_]")

    def __call__(self, text: str) -> str:
        if text.isascii():
            return text.encode("ascii").translate(self.table).decode("ascii")
        parts = self._NON_ASCII_RUN.split(text)  # ASCII runs at even indices, non-ASCII runs at odd ones
        for i, part in enumerate(parts):
            parts[i] = self.other.sub(" ", part) if i % 2 else part.encode("ascii").translate(self.table).decode("ascii")
        return "".join(parts)


spaced = _Spacer()  # ``text`` with every character that is not a letter or digit replaced by a space
spaced_but_apostrophes = _Spacer("_'")  # the same, keeping apostrophes and underscores (topic rules' words)


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p]


def lead(text: str, limit: int = LEAD_CHARS) -> str:
    """The first ~``limit`` characters of the text, cut back to a word boundary."""
    # The words of a prefix of the text, joined, are a prefix of all of them joined: when that is
    # already longer than ``limit``, the rest of the text cannot change the lead.
    flat = " ".join(text[: 4 * limit].split())
    if len(flat) <= limit:
        flat = " ".join(text.split())
        if len(flat) <= limit:
            return flat
    cut = flat.rfind(" ", 0, limit + 1)
    return flat[: cut if cut > limit // 2 else limit].rstrip(" ,;:")


def uncached_stemmer() -> Stemmer.Stemmer:
    """An English stemmer without PyStemmer's own cache: that cache keeps each word's stem in a list
    of its own, a container the garbage collector walks on every full pass (tens of thousands of
    them in a long-running enrich process). The callers cache stems in a dict of strings instead,
    which the collector does not track at all (``python -m bench.gc_pause --archive N``)."""
    stemmer = Stemmer.Stemmer("english")
    stemmer.maxCacheSize = 0
    return stemmer


def stem_words(stemmer: Stemmer.Stemmer, cache: dict[str, str], words: list[str], most: int = STEMS_KEPT) -> list[str]:
    """The stem of each of ``words``, each distinct word stemmed once and then read from ``cache``.
    A cache that would grow past ``most`` words starts again (with this call's words in it)."""
    new = set(words).difference(cache)
    if new:
        if len(cache) + len(new) > most:
            cache.clear()
            new = set(words)
        fresh = list(new)
        cache.update(zip(fresh, stemmer.stemWords(fresh), strict=True))
    return list(map(cache.__getitem__, words))
