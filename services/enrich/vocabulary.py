"""The entity vocabulary (people, organisations, places) and its Aho-Corasick matcher.

Matching rules (``Vocabulary.find``):
- aliases are matched case-insensitively by one pyahocorasick automaton, then checked:
  word boundaries on both sides (so "Prigozhin's" and "Ukrainian-Belarusian" match, "Minsky" does not);
  case: every capital in the alias must be a capital in the text ("Nice" never matches "nice"), an
  all-caps acronym ("UK", "U.S.") must match exactly, and an all-caps text span of 4+ characters
  (a shouted headline) matches its alias;
- overlapping matches: the longest wins, then the leftmost;
- an alias shared by several entries goes to the canonical name before an alias, then an entry
  editors added (a vocabulary event) before a seed entry, then the highest rank (countries, then
  population), then the smallest id.
Confidence: canonical name 0.95, alias 0.9, demonym/adjective ("Russian" -> Russia) 0.8.
The automaton is rebuilt lazily after ``add``, ``retire`` or ``alias``.
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import accumulate, compress, pairwise
from operator import itemgetter
from pathlib import Path
from typing import Literal, NamedTuple

import ahocorasick
import msgspec

from services.enrich.text import spaced

EntityType = Literal["person", "organisation", "place"]
ENTITY_TYPES: frozenset[str] = frozenset({"person", "organisation", "place"})

VOCAB_CREATOR = "newswire-vocab/1"
CONF_NAME = 0.95
CONF_ALIAS = 0.9
CONF_ADJECTIVE = 0.8

_NAME, _ALIAS, _ADJECTIVE = 0, 1, 2
_CONFIDENCE = {_NAME: CONF_NAME, _ALIAS: CONF_ALIAS, _ADJECTIVE: CONF_ADJECTIVE}
_COUNTRY_RANK = 10**10
_NATION_RANK = 10**9  # England, Scotland, Wales, Northern Ireland: national sides are places too


@dataclass(frozen=True, slots=True)
class Entry:
    """One canonical entity. ``adjectives`` are demonyms, matched with lower confidence."""

    id: str
    name: str
    type: EntityType
    aliases: tuple[str, ...] = ()
    uri: str = ""
    adjectives: tuple[str, ...] = ()
    rank: int = 0
    country: str = ""
    editorial: bool = False  # added by an editor (a vocabulary event): beats seed entries on a shared form

    def __post_init__(self) -> None:
        if self.type not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {self.type!r}")


class Mention(msgspec.Struct, frozen=True):
    """An entity found at ``text[start:end]``. (A msgspec struct: a story makes dozens, and one is
    made in a tenth of a microsecond, where a frozen dataclass took nearly two.)"""

    start: int
    end: int
    entry_id: str
    name: str
    type: EntityType
    confidence: float
    creator: str
    uri: str = ""
    derived: bool = False  # a demonym ("Russian" -> Russia): evidence for the tag, not a name of it


def lower_same_length(text: str) -> str:
    """``str.lower`` that keeps offsets (a few characters grow when lowercased)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def fold(name: str) -> str:
    """ASCII-fold a name: "Zürich" -> "Zurich", "Łódź" -> "Lodz"."""
    name = name.translate(_FOLD_TABLE)
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


_FOLD_TABLE = str.maketrans("łŁøØđĐıß", "lLoOdDis")


def _is_acronym(alias: str) -> bool:
    letters = [c for c in alias if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters) and len(letters) <= 5


def case_ok(alias: str, span: str) -> bool:
    """Does ``span`` (same letters, any case) spell ``alias`` with acceptable capitalisation?"""
    if span == alias:
        return True
    if _is_acronym(alias):
        return False
    if len(span) >= 4 and span.isupper():
        return True
    return all(not a.isupper() or s.isupper() for a, s in zip(alias, span, strict=False))


class Vocabulary:
    """Mutable alias vocabulary; ``find`` uses a lazily (re)built automaton."""

    __slots__ = ("_automaton", "_entries", "revision")

    def __init__(self, entries: Iterable[Entry] = (), revision: int = 0) -> None:
        self._entries: dict[str, Entry] = {}
        self._automaton: ahocorasick.Automaton | None = None
        self.revision = revision  # vocabulary events applied on top of the seed (see ``vocab_events``)
        for entry in entries:
            self._entries[entry.id] = entry

    @property
    def creator(self) -> str:
        """Provenance of a vocabulary tag: the matcher's rules and the vocabulary revision."""
        return f"{VOCAB_CREATOR}@{self.revision}"

    def copy(self) -> Vocabulary:
        """An independent vocabulary with the same entries (the automaton is rebuilt on use)."""
        return Vocabulary(self._entries.values(), self.revision)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def get(self, entry_id: str) -> Entry | None:
        return self._entries.get(entry_id)

    def add(self, entry: Entry) -> None:
        """Add an entry, or replace the entry with the same id."""
        self._entries[entry.id] = entry
        self._automaton = None

    def retire(self, entry_id: str) -> None:
        """Remove an entry; it is no longer matched. Unknown ids are ignored (idempotent)."""
        if self._entries.pop(entry_id, None) is not None:
            self._automaton = None

    def alias(self, entry_id: str, alias: str) -> None:
        """Add an alias to an existing entry (idempotent)."""
        entry = self._entries[entry_id]
        alias = alias.strip()
        if alias and alias != entry.name and alias not in entry.aliases:
            self._entries[entry_id] = replace(entry, aliases=(*entry.aliases, alias))
            self._automaton = None

    def build(self) -> ahocorasick.Automaton:
        """Compile (or return the compiled) automaton over all aliases."""
        if self._automaton is not None:
            return self._automaton
        table: dict[str, list[tuple[int, bool, int, str, str]]] = {}
        for entry in self._entries.values():
            forms = [(entry.name, _NAME)]
            forms += [(a, _ALIAS) for a in entry.aliases]
            forms += [(a, _ADJECTIVE) for a in entry.adjectives]
            for surface, kind in forms:
                if len(surface) < 2:
                    continue
                key = f" {spaced(lower_same_length(surface))} "
                table.setdefault(key, []).append((kind, not entry.editorial, -entry.rank, entry.id, surface))
        automaton = ahocorasick.Automaton()
        for key, candidates in table.items():
            candidates.sort()
            automaton.add_word(key, tuple((s, i, k) for k, _, _, i, s in candidates))
        automaton.make_automaton()
        self._automaton = automaton
        return automaton

    def find(self, text: str) -> list[Mention]:
        """All non-overlapping vocabulary mentions in ``text``, in text order."""
        automaton = self.build()
        if len(automaton) == 0:
            return []
        # Keys and text are lowercased with every non-word character as a space, and keys are padded
        # with a space on both sides: the automaton itself only reports hits on word boundaries (a
        # character and its same-length lowercase are both letters or digits, or neither).
        low = f" {spaced(lower_same_length(text))} "
        found: list[tuple[int, int, str, int]] = []
        for last, candidates in automaton.iter(low):
            for surface, entry_id, kind in candidates:
                start = last - len(surface) - 1
                end = start + len(surface)
                if case_ok(surface, text[start:end]):
                    found.append((start, end, entry_id, kind))
                    break
        found.sort(key=lambda m: (m[0] - m[1], m[0]))
        taken = bytearray(len(text))
        creator = self.creator
        mentions: list[Mention] = []
        for start, end, entry_id, kind in found:
            if any(taken[start:end]):
                continue
            taken[start:end] = b"\x01" * (end - start)
            entry = self._entries[entry_id]
            mentions.append(
                Mention(start, end, entry.id, entry.name, entry.type, _CONFIDENCE[kind], creator, entry.uri, kind == _ADJECTIVE)
            )
        mentions.sort(key=lambda m: m.start)
        return mentions

    def is_country(self, entry_id: str) -> bool:
        entry = self._entries.get(entry_id)
        return entry is not None and entry.type == "place" and entry.rank >= _COUNTRY_RANK


def geonames_entry(
    geonameid: int, name: str, country: str, rank: int, aliases: Iterable[str] = (), adjectives: Iterable[str] = ()
) -> Entry:
    return Entry(
        id=f"geonames:{geonameid}",
        name=name,
        type="place",
        aliases=tuple(aliases),
        uri=f"https://sws.geonames.org/{geonameid}/",
        adjectives=tuple(adjectives),
        rank=rank,
        country=country,
    )


def load_vocabulary(path: Path) -> tuple[Vocabulary, frozenset[str]]:
    """Load the vendored ``vocabulary.json.gz``: the vocabulary and the common-word list."""
    with open(path, "rb") as f:
        doc = json.loads(gzip.decompress(f.read()))
    entries = [geonames_entry(g, n, c, r, a, adj) for g, n, c, r, a, adj in doc["places"]]
    common = frozenset(doc.get("common_words", ()))
    for slug, name, aliases in doc["organisations"]:
        entries.append(
            Entry(
                id=f"newswire:organisation:{slug}",
                name=name,
                type="organisation",
                aliases=tuple(aliases),
                uri=f"urn:newswire:entity:organisation:{slug}",
                rank=1,
            )
        )
    return Vocabulary(entries), common


# --- Names not in the vocabulary: the capitalisation heuristic --------------------------------
#
# Proper-noun phrases are runs of capitalised tokens joined by single spaces, allowing the
# connectors in _CONNECTORS between them ("Bank of England", "Abu Bakr al-Baghdadi"). A possessive
# ("Ukraine's") ends a phrase. Phrases are typed by rules:
# - organisation: the last token is an organisation head ("Wagner Group", "State Border Guard
#   Service") or a head comes just before "of" ("Ministry of Defence");               conf 0.6
#   but a person-shaped name, "of" and an organisation ("Ingrid Haddad of Vijayapura Energy
#   Company") are two names, each typed by these rules;
# - person: a title precedes ("President Lukashenko", "Mr Smith") or a context word is near
#   ("spokesperson Andrii Demchenko", "... Demchenko said");                            conf 0.6
#   a bare two/three-token name with no place, demonym or common word in it;           conf 0.5
# - place: only after "in", "near" or "outside" ("near Divin");                        conf 0.4
# A later single token equal to a found person's surname, or a found organisation name without
# its head ("Wagner" after "Wagner Group"), or an organisation name that is a token-suffix of a
# longer one found ("Border Guard Service"), resolves to that same entity (a suffix of two different
# longer names resolves to neither). Anything untypable is
# returned as a suggestion (for the editors' review queue), never as a tag.
# Ids: "newswire:<type>:<slug>", uri "urn:newswire:entity:<type>:<slug>".

NAMES_CREATOR = "newswire-names/1"
CONF_RULE = 0.6
CONF_SHAPE = 0.5
CONF_PREPOSITION = 0.4


def _words(spec: str) -> frozenset[str]:
    """A word set written as one whitespace-separated string."""
    return frozenset(spec.split())


_CONNECTORS = _words("""of de del da di van von der den bin ibn al el la le du dos das""")
_ORG_HEADS = _words(
    """group service services ministry council yard bros party army bank inc ltd llc plc corp corporation company co
    agency union committee guard guards forces force university college institute school department
    office commission court parliament assembly congress senate police navy federation association
    organisation organization foundation fund league club command directorate bureau authority board
    network radio television tv news times post journal press airlines airways brigade battalion
    regiment division front movement alliance coalition church holdings partners technologies systems
    motors media trust society centre center hospital"""
)
_TITLES = _words(
    """president prime minister mr ms mrs miss dr sir dame lord lady general gen colonel col lieutenant lt
    major maj captain capt sergeant chancellor king queen prince princess pope senator sen governor gov
    mayor judge justice secretary ambassador commander chairman chairwoman spokesperson spokesman
    spokeswoman professor prof rev bishop archbishop sheikh premier vice deputy"""
)
_PERSON_TITLES = _words(
    """president mr ms mrs miss dr sir dame lord lady general gen colonel col lieutenant lt major maj
    captain capt sergeant chancellor king queen prince princess pope senator sen governor gov mayor
    judge minister secretary ambassador commander chairman chairwoman spokesperson spokesman spokeswoman
    professor prof rev bishop archbishop sheikh premier"""
)
_PERSON_CUES_BEFORE = _words(
    """spokesperson spokesman spokeswoman leader chief head founder ceo director commander reporter
    correspondent analyst by minister president official envoy adviser advisor activist journalist
    artist author lawyer"""
)
_PERSON_CUES_AFTER = _words("""said says told added explained wrote stated announced who""")
_PLACE_PREPOSITIONS = frozenset({"in", "near", "outside"})
# Capitalised words that start sentences or name dates, never entities on their own.
_COMMON = _words(
    """the a an in on at after before as but and or when while if this that these those his her their our
    its for from with by according several some many most more other another all any each every no not
    there here then than what which who whom whose why how where also however meanwhile fortunately
    unfortunately still yet even only just so such since until because although though despite during
    under over between among into through about against without within photo photos image video read
    show more news feed avatar reporter editor updated monday tuesday wednesday thursday friday saturday
    sunday january february march april may june july august september october november december jan feb
    mar apr jun jul aug sep sept oct nov dec today yesterday tomorrow last next first second third new
    old he she it we they you i my your us them one two three four five ten hundred thousand million
    billion mr ms mrs dr sir foreign"""
)


@lru_cache(maxsize=65_536)
def slug(name: str) -> str:
    out, dash = [], False
    for c in fold(name).lower():
        if c.isalnum():
            out.append(c)
            dash = False
        elif not dash and out:
            out.append("-")
            dash = True
    return "".join(out).strip("-")


def name_entity_id(kind: EntityType, name: str) -> tuple[str, str]:
    """The stable id and uri of an entity known only by name."""
    s = slug(name)
    return f"newswire:{kind}:{s}", f"urn:newswire:entity:{kind}:{s}"


class _Tok(NamedTuple):
    start: int
    end: int
    text: str
    low: str
    cap: bool
    initial: bool
    possessive: bool


_INITIAL_AFTER = frozenset('.!?:;"“”‘(\n[—–')
_new = tuple.__new__  # a NamedTuple's constructor without its keyword-handling wrapper
_TOKEN_SPLIT = re.compile(r"(\w+(?:[-'’]\w+)*)")


class _Tokens:
    """The word tokens of a text as parallel lists, split and measured by C code in a few calls.

    Most words start lowercase and only ever need their lowercase form; a ``_Tok`` is made for the
    capitalised ones at once and for any other only when a phrase asks for it. A token's ``low`` is
    its lowercase form without a possessive ("ukraine" for "Ukraine's"); ``lower_words`` are the
    words that start lowercase.
    """

    __slots__ = ("_index", "_made", "cap", "caps", "lower_words", "lows", "offsets", "possessive", "seps", "words")

    def __init__(self, text: str) -> None:
        parts = _TOKEN_SPLIT.split(text)  # separator, token, separator, ..., token, separator
        self.words = words = parts[1::2]
        self.seps: list[str] = parts[2::2]  # seps[k] lies between token k and token k + 1
        self.offsets = offsets = list(accumulate(map(len, parts), initial=0))  # token k starts at offsets[2k + 1]
        self.lows = lows = list(map(str.lower, words))
        n = len(words)
        self.cap = cap_of = bytearray(n)
        self.possessive = possessive_of = bytearray(n)
        self.caps: list[int] = []  # indices of the capitalised tokens
        self._made: dict[int, _Tok] = {}
        caps, made = self.caps, self._made
        self._index: dict[int, int] | None = None
        # Words that start lowercase, found by C code: their lowercase forms are all they need.
        lowercase = list(map(str.islower, map(itemgetter(0), words)))
        self.lower_words = lower_words = set(compress(lows, lowercase))
        # The rest: every other word, and a lowercase start with a hyphen after two letters ("al-Assad").
        rest = [k for k in range(n) if not lowercase[k] or words[k][2:3] == "-"]
        for k in rest:
            word = words[k]
            first = word[0]
            low_first = lowercase[k]
            possessive = len(word) > 2 and word[-1] == "s" and word[-2] in "'’"
            if possessive:
                if low_first:
                    lower_words.discard(lows[k])  # kept without its possessive, below
                word = words[k] = word[:-2]
                lows[k] = word.lower()
                possessive_of[k] = 1
            if low_first:
                lower_words.add(lows[k])
            cap = first.isupper() or (word[:3].lower() in ("al-", "el-") and word[3:4].isupper())  # "al-Assad"
            if cap and (len(word) == 1 or word.isupper() or first.isdigit()):
                cap = False  # all-caps words (credits, shouting, acronyms) and lone letters are not name tokens
            start = offsets[2 * k + 1]
            initial = False
            if cap:
                i = start - 1
                while i >= 0 and text[i] in " \t":
                    i -= 1
                initial = i < 0 or text[i] in _INITIAL_AFTER or (text[i] in "'’" and (i == 0 or not text[i - 1].isalnum()))
                cap_of[k] = 1
                caps.append(k)
            made[k] = _new(_Tok, (start, start + len(word), word, lows[k], cap, initial, possessive))

    def __len__(self) -> int:
        return len(self.words)

    def tok(self, k: int) -> _Tok:
        made = self._made.get(k)
        if made is None:
            start = self.offsets[2 * k + 1]
            made = self._made[k] = _new(_Tok, (start, self.offsets[2 * k + 2], self.words[k], self.lows[k], False, False, False))
        return made

    def index(self, start: int) -> int:
        """The index of the token that starts at ``start``."""
        if self._index is None:
            self._index = {self.offsets[2 * k + 1]: k for k in range(len(self.words))}
        return self._index[start]

    def joined(self, k: int) -> bool:
        """Are tokens ``k`` and ``k + 1`` parts of one phrase's spelling: one space apart, no possessive between?"""
        return not self.possessive[k] and self.seps[k] == " "


def _phrases(tokens: _Tokens) -> list[list[int]]:
    """Token index runs forming proper-noun phrases."""
    phrases: list[list[int]] = []
    n = len(tokens)
    cap, lows, joined = tokens.cap, tokens.lows, tokens.joined
    done = -1
    for i in tokens.caps:
        if i <= done:
            continue
        run = [i]
        j = i
        while j + 1 < n:
            if not joined(j):
                break
            if cap[j + 1]:
                run.append(j + 1)
                j += 1
                continue
            if lows[j + 1] in _CONNECTORS and j + 2 < n and cap[j + 2] and joined(j + 1):
                run += [j + 1, j + 2]
                j += 2
                continue
            break
        phrases.append(run)
        done = j
    return phrases


@dataclass(slots=True)
class NameResult:
    mentions: list[Mention]
    suppressed: set[int]  # starts of vocabulary mentions overruled by a name
    suggestions: list[str]


_Found = tuple[int, int, EntityType, float, str]  # start, end, type, confidence, name
_BIG_PLACE = 1_000_000  # countries, US states and cities of a million: never part of a person's name


class NameFinder:
    """Finds and types names that are not in the vocabulary (see the rules above).

    ``common_words`` is a lowercase word list; a capitalised common word only starts a name when
    it is not sentence-initial, and never makes a bare name or a place on its own.
    """

    def __init__(self, common_words: Iterable[str] = ()) -> None:
        self.common_words = frozenset(common_words)

    def find(self, text: str, vocab_mentions: list[Mention], vocab: Vocabulary) -> NameResult:
        """The names in ``text`` that ``vocab_mentions`` (``vocab.find(text)``: in text order) leave out."""
        tokens = _Tokens(text)
        lower_words, lows = tokens.lower_words, tokens.lows
        offsets = tokens.offsets
        pos = {offsets[2 * k + 1]: k for k in tokens.caps}  # start -> index of each capitalised token
        starts = [m.start for m in vocab_mentions]  # in text order, as Vocabulary.find returns them
        covered = bytearray(len(text))
        for m in vocab_mentions:
            covered[m.start : m.end] = b"\x01" * (m.end - m.start)

        def common(t: _Tok) -> bool:
            return t.low in _COMMON or t.low in lower_words or t.low in self.common_words or (t.initial and t.low.endswith("ly"))

        def prev(t: _Tok) -> str:
            k = pos.get(t.start)
            if k is None:
                k = tokens.index(t.start)
            return lows[k - 1] if k else ""

        found: list[_Found] = []
        suppressed: set[int] = set()
        singles: list[_Tok] = []
        suggestions: list[str] = []

        def handle(run: list[_Tok], after_title: bool) -> None:
            # Not recursive: a closure that calls itself holds itself, a reference cycle that keeps its
            # closure (the tokens and all the rest above) until the garbage collector's next pass.
            todo = [(run, after_title)]
            while todo:
                run, after_title = todo.pop()
                # Leading function words and sentence-initial common words are not part of a name.
                while run and (
                    run[0].low in _COMMON or run[0].low in _CONNECTORS or (run[0].initial and common(run[0]) and not _is_org(run))
                ):
                    run = run[1:]
                while run and run[-1].low in _CONNECTORS:
                    run = run[:-1]
                if not run:
                    continue
                a, b = run[0].start, run[-1].end
                # the vocabulary mentions within [a, b): they are in text order, so they start from index bisect(a)
                inside = [m for m in vocab_mentions[bisect_left(starts, a) : bisect_left(starts, b)] if m.end <= b]
                if len(inside) == 1 and inside[0].start == a and inside[0].end == b:
                    continue  # exactly a vocabulary entry
                name = text[a:b]
                if _is_org(run):
                    k = _person_of(run)
                    if k is not None:
                        todo += [(run[k + 1 :], False), (run[:k], after_title)]  # the first part next, as the text reads
                        continue
                    head_end = next((t.start for t in run if t.low == "of"), b)
                    suppressed.update(m.start for m in inside if m.end <= head_end and m.type == "place")
                    found.append((a, b, "organisation", CONF_RULE, name))
                    continue
                if len(run) == 1:
                    if after_title and not covered[a]:
                        found.append((a, b, "person", CONF_RULE, name))
                    elif not covered[a]:
                        singles.append(run[0])
                    continue
                big = any(
                    m.confidence == CONF_ADJECTIVE or (e := vocab.get(m.entry_id)) is None or e.rank >= _BIG_PLACE for m in inside
                )
                person_shape = (
                    len(run) <= 3
                    and all(t.cap for t in run)
                    and not big
                    and not any(m.end == b for m in inside)
                    and prev(run[0]) != "the"
                )
                if person_shape:
                    cue = after_title or _cue(lows, pos[a], pos[run[-1].start])
                    if (cue and not any(t.low in _COMMON for t in run)) or not any(common(t) for t in run):
                        suppressed.update(m.start for m in inside)
                        found.append((a, b, "person", CONF_RULE if cue else CONF_SHAPE, name))
                        continue
                if not inside and prev(run[0]) in _PLACE_PREPOSITIONS and not any(common(t) for t in run):
                    found.append((a, b, "place", CONF_PREPOSITION, name))
                elif not inside:
                    suggestions.append(name)

        for run_idx in _phrases(tokens):
            run = [tokens.tok(k) for k in run_idx]
            # Titles split a phrase: "Moscow Mayor Sergei Sobyanin" -> "Moscow" | person.
            k = None if _is_org(run) else next((p for p, t in enumerate(run) if t.low in _TITLES and p + 1 < len(run)), None)
            if k is None:
                handle(run, after_title=prev(run[0]) in _PERSON_TITLES)
                continue
            end = k
            while end < len(run) and run[end].low in _TITLES:
                end += 1
            if k:
                handle(run[:k], after_title=False)
            if run[end:]:
                handle(run[end:], after_title=any(t.low in _PERSON_TITLES for t in run[k:end]))

        _acronyms(text, covered, found)
        _teams(text, vocab_mentions, vocab, suppressed, found)

        # Later mentions: surnames of found people, organisation names without their head.
        short: dict[str, tuple[EntityType, str]] = {}
        given: set[str] = set()
        for _a, _b, kind, _c, name in found:
            parts = name.split()
            if kind == "person" and len(parts) > 1:
                short.setdefault(parts[-1], (kind, name))
                given.add(parts[0])
            elif kind == "organisation" and len(parts) == 2 and parts[-1].lower() in _ORG_HEADS:
                short.setdefault(parts[0], (kind, name))
        for t in singles:
            if t.text in short:
                kind, name = short[t.text]
                found.append((t.start, t.end, kind, CONF_RULE, name))
            elif prev(t) in _PLACE_PREPOSITIONS and not common(t):
                found.append((t.start, t.end, "place", CONF_PREPOSITION, t.text))
            elif not common(t):
                suggestions.append(t.text)
        # A place that is also a found person's given name or surname ("Martin") is that person.
        for m in vocab_mentions:
            surface = text[m.start : m.end]
            if m.type == "place" and (surface in given or surface in short) and not vocab.is_country(m.entry_id):
                suppressed.add(m.start)
                if surface in short:
                    kind, name = short[surface]
                    found.append((m.start, m.end, kind, CONF_RULE, name))

        # "Border Guard Service" is the "State Border Guard Service" found elsewhere.
        orgs = sorted({f[4] for f in found if f[2] == "organisation"}, key=len, reverse=True)
        mentions: list[Mention] = []
        for a, b, kind, conf, name in sorted(found):
            canonical = _longer_org(name, orgs) if kind == "organisation" else name
            entity_id, uri = name_entity_id(kind, canonical)
            mentions.append(Mention(a, b, entity_id, canonical, kind, conf, NAMES_CREATOR, uri))
        return NameResult(mentions, suppressed, list(dict.fromkeys(suggestions)))


def _longer_org(name: str, orgs: list[str]) -> str:
    """The longer organisation name (of ``orgs``, longest first) that ``name`` is the end of: the
    longest, when the others are ends of it too ("Guard Service" of "Border Guard Service" and "State
    Border Guard Service"); ``name`` itself when it ends two that differ ("Gebze Group" of "Port of
    Gebze Group" and "Bank of Gebze Group"), whatever order they were found in."""
    longer = [o for o in orgs if o.endswith(" " + name)]
    if not longer:
        return name
    top = longer[0]
    return top if all(o == top or top.endswith(" " + o) for o in longer) else name


def _is_org(run: list[_Tok]) -> bool:
    if len(run) < 2:
        return False
    if run[-1].low in _ORG_HEADS:
        return True
    return any(t.low in _ORG_HEADS and n.low == "of" for t, n in pairwise(run))


def _person_of(run: list[_Tok]) -> int | None:
    """The index of the "of" in "<name> of <organisation>": two or three capitalised tokens before it,
    none an organisation head or a connector, and two or more after it that end in a head. None for
    one organisation named by its head first ("Bank of England", "Port of Gebze Group", "Royal Bank
    of Scotland Group")."""
    if run[-1].low not in _ORG_HEADS:
        return None
    for k in (2, 3):
        if k + 2 < len(run) and run[k].low == "of":
            if all(t.cap and t.low not in _ORG_HEADS and t.low not in _CONNECTORS for t in run[:k]):
                return k
            return None
    return None


def _cue(lows: list[str], first: int, last: int) -> bool:
    before = set(lows[max(0, first - 3) : first])
    after = set(lows[last + 1 : last + 3])
    return bool(before & _PERSON_CUES_BEFORE or before & _PERSON_TITLES or after & _PERSON_CUES_AFTER)


# Acronyms that are not organisations (units, titles, diseases, common abbreviations).
_ACRONYM_STOP = _words(
    """ceo cfo coo cto gdp gnp tv pm am ok id ii iii iv vi vii viii ix xi xii aids hiv dna rna ipo km kg mph
    usd gbp eur jpy chf cad aud cpi ppi vat faq pc ad bc rip pr hr it ai ft pdf www tba tbc etc ie eg fyi
    ltd plc inc co llc vs mw gw kw ev suv atm sms gps cd dvd mp pa ap afp upi dpa"""
)


def _line(text: str, start: int, end: int) -> str:
    return text[text.rfind("\n", 0, start) + 1 : (e if (e := text.find("\n", end)) >= 0 else len(text))]


# The lookbehind sits after the first capital (same meaning) so the regex engine can skip ahead to capitals.
_ACRONYM = re.compile(r"[A-Z](?<![\w'’-][A-Z])[A-Z]{1,4}(?=['’]s?(?![\w'’-])|(?![\w'’-]))")


def _acronyms(text: str, covered: bytearray, found: list[_Found]) -> None:
    """An all-caps word of 2-5 letters in a line that is not itself all caps ("the WTO said") names an
    organisation (conf 0.4), unless it is a known non-organisation acronym or the vocabulary has it."""
    shouting: dict[int, bool] = {}
    for m in _ACRONYM.finditer(text):
        start, word = m.start(), m.group()
        if covered[start] or word.lower() in _ACRONYM_STOP:
            continue
        line_start = text.rfind("\n", 0, start) + 1
        shouted = shouting.get(line_start)
        if shouted is None:
            shouted = shouting[line_start] = not any(c.islower() for c in _line(text, start, m.end()))
        if not shouted:
            found.append((start, m.end(), "organisation", CONF_PREPOSITION, word))


# (The lookbehind sits after the first digit, as in ``_ACRONYM``: the same numbers, found 2.6 times faster.)
_TABLE_NUMBER = re.compile(r"\d(?<![\w.]\d)\d*(?:[-.:]\d+)?(?![\w.])")
_FIXTURE = re.compile(r"^[A-Z][A-Z .'-]+ (?:AT|VS?\.?|V) [A-Z][A-Z .'-]+$")


def _teams(text: str, mentions: list[Mention], vocab: Vocabulary, suppressed: set[int], found: list[_Found]) -> None:
    """A city or region in a results line ("Barcelona 15 10 4 1 46 19 34", "CLEVELAND AT DETROIT") is the
    team named after it: an organisation (conf 0.5), not the place. Countries stay places (national sides)."""
    lines: dict[int, bool] = {}
    for m in mentions:
        entry = vocab.get(m.entry_id)
        if m.type != "place" or m.derived or entry is None or entry.rank >= _NATION_RANK:
            continue
        line_start = text.rfind("\n", 0, m.start) + 1
        is_table = lines.get(line_start)
        if is_table is None:
            line = _line(text, m.start, m.end).strip()
            is_table = lines[line_start] = len(_TABLE_NUMBER.findall(line)) >= 3 or bool(_FIXTURE.match(line))
        if is_table:
            suppressed.add(m.start)
            found.append((m.start, m.end, "organisation", CONF_SHAPE, text[m.start : m.end]))
