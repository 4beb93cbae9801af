"""IPTC Media Topic subjects from hand-written weighted keyword rules (IPTC EXTRA style).

Each rule is a topic code, weighted terms (one to three words, matched on PyStemmer English stems,
so "troops" matches "troop"), negative weights as exclusions, and a threshold. The score of a rule is
``sum(weight * (2 * headline_hits + min(body_hits, 3)))``; the body is the lead plus the rest of the
text, and the cap of 3 stops one repeated word from carrying a story. A rule fires when its score
reaches its threshold (half of it for an article under 80 words: a brief has fewer words to hit).
A child topic ("war") that fires also brings its top-level topic
("conflict, war and peace") with at least the child's score.
Published values: relevance = 100 * score / best score of the article; confidence =
100 * (1 - exp(-score / threshold)), capped at 99. At most ``max_topics`` top-level topics.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import compress
from pathlib import Path

from schemas.events import SubjectTag
from services.enrich.text import spaced_but_apostrophes, stem_words, uncached_stemmer

RULES_CREATOR = "newswire-rules/1"
URI_PREFIX = "http://cv.iptc.org/newscodes/mediatopic/"
MEDIA_TOPICS = Path(__file__).resolve().parent / "data" / "mediatopics.json"  # the vendored IPTC vocabulary
BODY_HIT_CAP = 3
SHORT_WORDS = 80  # an article of fewer words (a brief, a headline and a summary) ...
SHORT_SCALE = 0.5  # ... needs only half a rule's threshold

_WORD = re.compile(r"[^\W_]+(?:'(?!s\b)[^\W_]+)?")  # "russia's" -> "russia", "s"; "o'neill" stays one word


# ``_words`` finds the same words faster: every character that is neither a word character nor an
# apostrophe becomes a space (no ``_WORD`` match spans one), ``str.split`` cuts there, and only the
# chunks that are not plain letters and digits (an apostrophe or an underscore in them) go through ``_WORD``.
def _words(low: str) -> list[str]:
    """``_WORD.findall(low)``, for lowercased text with straight apostrophes."""
    spaced = spaced_but_apostrophes(low)
    chunks = spaced.split()
    if "'" not in spaced and "_" not in spaced:
        return chunks
    words: list[str] = []
    for chunk in chunks:
        if chunk.isalnum():
            words.append(chunk)
        else:
            words += _WORD.findall(chunk)
    return words


@dataclass(frozen=True, slots=True)
class Topic:
    code: str
    name: str
    parent: str | None
    level: int

    @property
    def uri(self) -> str:
        return URI_PREFIX + self.code.removeprefix("medtop:")


def load_topics(path: Path = MEDIA_TOPICS) -> list[Topic]:
    """The IPTC Media Topics of a vocabulary file (the vendored one by default)."""
    with open(path, encoding="utf-8") as f:
        return [Topic(t["code"], t["name"], t["parent"], t["level"]) for t in json.load(f)]


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    terms: Mapping[str, float]
    threshold: float = 4.0


def _t(spec: str) -> dict[str, float]:
    """Parse "war:3 troops:2 peace talks:2 -video game:-4" style weighted term lists (";"-separated)."""
    out: dict[str, float] = {}
    for item in spec.split(";"):
        item = item.strip()
        if item:
            phrase, _, weight = item.rpartition(":")
            out[phrase.strip()] = float(weight)
    return out


# fmt: off
RULES: tuple[Rule, ...] = (
    Rule("medtop:16000000", _t("""war:3; troops:3; troop:3; military:2; army:2; soldier:2; mercenary:3;
        insurrection:3; insurgent:3; rebel:2; armed:2; invasion:3; invade:3; missile:2; airstrike:3;
        shelling:3; artillery:3; ceasefire:3; frontline:2; front line:2; offensive:2; battle:2;
        combat:2; militant:2; drone strike:3; attack:1; incursion:3; deploy:2; deployment:2;
        defence:1; defense:1; mutiny:3; rotation:1; weapons:1; nato:2; peace talks:3; occupation:2;
        killed:1; casualties:2; border guard:1; -price war:-4; -trade war:-4; -star wars:-5; kill:1; bomb:2; bombs:2;
        bomber:2; blast:2; gunmen:3; insurgency:3; hostage:3; hostages:3;
        kidnapped:3; kidnappers:3; soldiers:2; marines:3; rebels:2; fighters:2; militia:3; violence:2;
        peacekeepers:3; peacekeeping:3; raid:2; air strike:3; suicide bomb:4; car bomb:4; iraq:1; baghdad:2;
        fallujah:3; gaza:2; taliban:3; al qaeda:3; ceasefire:3; truce:3; nuclear weapons:3; -video game:-4""")),
    Rule("medtop:20000056", _t("""armed conflict:4; fighting:2; clashes:2; shelling:3; airstrike:3;
        frontline:2; front line:2; offensive:2; battle:2; combat:2; insurgent:3; militant:2; rebel:2"""),
         threshold=6.0),
    Rule("medtop:20000062", _t("""war:3; invasion:3; invade:2; wartime:3; warfare:3; -price war:-4;
        -trade war:-4; -star wars:-5; -war of words:-4"""), threshold=6.0),
    Rule("medtop:20000065", _t("""protest:3; protesters:3; riot:3; demonstrators:3; unrest:3; uprising:3;
        insurrection:3; mutiny:3; rebellion:3"""), threshold=6.0),
    Rule("medtop:11000000", _t("""government:2; minister:2; president:2; parliament:3; election:3;
        vote:2; voters:3; party:1; opposition:2; prime minister:3; senate:3; congress:2; mp:2;
        mps:2; lawmakers:3; policy:1; diplomat:2; diplomatic:2; sanctions:2; referendum:3;
        campaign:1; cabinet:2; kremlin:2; chancellor:1; legislation:2; coalition:2; regime:2;
        -football:-2; presidential:3; premier:2; leader:1; leaders:1; democrat:3; democrats:3; republican:3;
        republicans:3; tory:3; tories:3; labour party:4; lib dem:4; lib dems:4; conservatives:2; white house:3;
        united nations:2; security council:3; summit:2; talks:1; negotiations:2; bush:1; kerry:2; blair:2;
        ministers:2; governor:1; mayor:1; constitution:3; independence:2; nuclear programme:3; nuclear program:3;
        home secretary:4; chancellor:1; downing street:4; whitehall:3; commons:3; lords:2; bill:1""")),
    Rule("medtop:20000574", _t("""election:3; elections:3; vote:2; voters:3; ballot:3; polling:3;
        candidate:2; campaign:1; referendum:3; electoral:3"""), threshold=6.0),
    Rule("medtop:20000639", _t("""diplomacy:3; diplomat:3; diplomatic:3; ambassador:3; summit:2; talks:1;
        foreign minister:3; embassy:3; treaty:2"""), threshold=6.0),
    Rule("medtop:02000000", _t("""police:2; arrested:3; arrest:2; court:2; judge:2; trial:3; charged:3;
        crime:3; criminal:2; murder:3; prison:2; jail:2; sentenced:3; lawsuit:3; convicted:3; fraud:3;
        prosecutor:3; investigation:1; theft:3; guilty:3; charges:2; accused:2; allegations:2; lawyers:2; lawyer:2;
        sued:3; sue:2; ruling:2;
        supreme court:3; appeal:1; verdict:3; jury:3; suspect:3; suspects:3; detained:2; prosecutors:3""")),
    Rule("medtop:20000103", _t("""terrorism:4; terrorist:4; terror attack:4; bombing:2; suicide bomber:4;
        extremist:2; jihadist:3"""), threshold=6.0),
    Rule("medtop:03000000", _t("""earthquake:4; flood:3; flooding:3; hurricane:3; wildfire:4; tsunami:4;
        crash:2; accident:3; disaster:3; evacuated:2; rescue:2; rescuers:3; explosion:2; fire:1;
        collapse:2; victims:1; emergency:2; derailed:3; landslide:4""")),
    Rule("medtop:04000000", _t("""economy:3; economic:2; market:2; markets:2; shares:3; stocks:3;
        investors:3; profit:3; profits:3; revenue:3; sales:2; company:1; firm:1; bank:2;
        inflation:3; interest rate:4; interest rates:4; gdp:4; growth:1; prices:2; trade:2;
        business:2; chief executive:2; ceo:2; deal:1; billion:1; million:1; tax:1; oil:1;
        earnings:3; quarter:1; currency:2; dollar:1; euro:1; -trade union:-2; companies:2; corp:2; inc:2; stock:3;
        wall street:4; dow:3; nasdaq:3; ftse:3; crude:3;
        barrel:3; opec:3; merger:4; acquisition:3; acquire:3; takeover:4; bid:1; buyout:4; airline:2; airlines:2;
        retailer:3; retail:2; consumer:2; analysts:2; quarterly:3; fiscal:3; dividend:4; bankruptcy:3; debt:2;
        loan:2; loans:2; mortgage:3; federal reserve:4; fed:2; yen:3; exports:3; imports:3; deficit:2;
        economist:3; economists:3; shareholders:4; shareholder:4; stake:2; ipo:4; firms:2; industry:1;
        manufacturing:3; factory:2; costs:1; regulators:2; financial:2; insurer:3; investment:2; invest:2""")),
    Rule("medtop:20000371", _t("""interest rate:4; interest rates:4; central bank:3; rate cut:4;
        rate rise:4; monetary policy:4; federal reserve:3; base rate:4"""), threshold=6.0),
    Rule("medtop:20000396", _t("""stocks:3; shares:3; stock market:4; stock exchange:4; index:1;
        nasdaq:3; dow jones:3; ftse:3; investors:2; traders:2"""), threshold=6.0),
    Rule("medtop:05000000", _t("""school:3; schools:3; pupils:3; students:3; teachers:3; university:2;
        education:4; exam:3; exams:3; curriculum:3; tuition:3""")),
    Rule("medtop:06000000", _t("""climate:3; climate change:4; emissions:3; pollution:3; environment:3;
        environmental:3; carbon:2; wildlife:3; species:2; biodiversity:4; deforestation:4;
        renewable:2; global warming:4""")),
    Rule("medtop:07000000", _t("""health:3; hospital:3; patients:3; doctors:3; disease:3; virus:3;
        vaccine:3; cancer:3; nhs:3; medical:2; treatment:2; drug:2; drugs:1; pandemic:3;
        outbreak:3; infection:3""")),
    Rule("medtop:08000000", _t("""zoo:3; birthday:2; centenarian:4; wedding:2; pet:2; quirky:3;
        record-breaking:2; heartwarming:4"""), threshold=6.0),
    Rule("medtop:09000000", _t("""workers:3; strike:2; union:2; unions:3; jobs:2; unemployment:4;
        wages:3; wage:3; employment:3; employees:2; layoffs:4; labour:2; pension:2; -hunger strike:-2;
        -air strike:-3; -drone strike:-3; -missile strike:-3""")),
    Rule("medtop:10000000", _t("""holiday:2; travel:2; tourism:3; tourists:3; recipe:3; fashion:3;
        restaurant:2; food:1; hobby:3; leisure:3; lifestyle:4""")),
    Rule("medtop:12000000", _t("""church:3; religion:4; religious:3; pope:3; mosque:3; faith:2;
        bishop:3; muslim:2; christian:2; jewish:2; buddhist:3; clergy:3; vatican:3""")),
    Rule("medtop:13000000", _t("""technology:3; software:3; internet:2; computer:3; scientists:3;
        research:2; researchers:3; study:1; space:2; nasa:3; smartphone:3; digital:2; online:1;
        artificial intelligence:4; ai:2; broadband:3; mobile phone:3; satellite:2; -space for:-2; microsoft:3;
        google:3; ibm:3; intel:3; linux:4; web:2; website:2; search engine:4;
        browser:4; spam:3; hackers:3; hacker:3; worm:2; wireless:3; chip:3; chips:3; processor:3; pc:3; pcs:3;
        laptop:3; gadget:3; gadgets:3; video game:4; video games:4; games console:4; console:2; xbox:4;
        playstation:4; nintendo:4; handset:3; handsets:3; phones:2; telecom:2; download:3; downloads:3;
        ipod:4; itunes:4; file-sharing:4; peer-to-peer:4; email:3; e-mail:3; blog:3; blogs:3; users:2;
        gamers:4; space station:4; astronaut:4; astronauts:4; shuttle:3; mars:3; planet:3; telescope:4;
        scientist:3; genome:4; physics:4; laboratory:2; rocket:3; spacecraft:4; orbit:3; robot:3; tech:3;
        high-definition:3; dvd:2; silicon valley:4; open source:4; yahoo:3; ebay:3; aol:3; dell:3;
        hewlett-packard:3; motorola:3; nokia:3; cisco:3; sun microsystems:4; peoplesoft:3; oracle:2;
        cybersecurity:4; data:1; servers:3; server:3; program:1; programs:1; device:2; devices:2""")),
    Rule("medtop:14000000", _t("""immigration:3; migrants:3; refugees:3; welfare:3; poverty:3;
        discrimination:3; community:1; families:1; housing:2; social:1; charity:2; homeless:3;
        asylum:3; racism:3; gender:2; population:1""")),
    Rule("medtop:15000000", _t("""match:3; football:4; soccer:4; league:3; cup:2; goal:2; goals:2;
        coach:3; striker:4; tennis:4; cricket:4; rugby:4; olympic:4; olympics:4; champion:3;
        championship:3; tournament:3; season:2; team:2; player:3; players:3; victory:1; win:1;
        defeat:1; scored:4; fans:2; stadium:3; athlete:3; athletics:4; premiership:4; -war:-2;
        -election:-2; game:2; games:1; wins:2; beat:2; beats:2; defeated:2; score:2; nba:4; nfl:4; nhl:4;
        baseball:4; basketball:4; golf:4; golfer:4; hockey:4; boxing:4; cycling:3; racing:2; grand prix:4;
        formula one:4; medal:3; gold medal:4; quarterback:4; touchdown:4; inning:4; innings:4; pitcher:4;
        yankees:4; red sox:4; squad:3; injury:2; wimbledon:4; semi-final:4; semifinal:4; quarter-final:4;
        quarterfinal:4; final:2; title:1; sprint:2; marathon:3; ryder cup:4; playoff:4; playoffs:4;
        postseason:4; world series:4; home run:4; referee:4; wicket:4; test match:4; fifa:4; uefa:4;
        seeded:3; coach:1; manager:1; champions:2; open:1; lap:3; driver:1; -video game:-4; -games console:-4""")),
    Rule("medtop:20000822", _t("""football:3; soccer:4; striker:3; goalkeeper:4; premier league:4;
        midfielder:4; penalty:2; world cup:2; champions league:4"""), threshold=6.0),
    Rule("medtop:01000000", _t("""film:3; films:3; movie:3; music:3; album:3; band:2; singer:3;
        actor:3; actress:3; festival:2; theatre:3; art:2; artist:2; museum:3; novel:3; book:2;
        award:1; oscar:4; show:1; tv:2; television:2; media:1; concert:3; box office:4; films:1; hollywood:4;
        celebrity:3; star:1; rock:2; pop:2; chart:2; singles:2;
        grammy:4; oscars:4; bafta:4; director:1; comedy:3; drama:2; sitcom:4; soap:2; box-office:4""")),
    Rule("medtop:17000000", _t("""weather:4; forecast:3; temperatures:3; rain:3; snow:3; storm:2;
        heatwave:4; meteorological:4; met office:4; drought:2; frost:3""")),
)
# fmt: on


class TopicRules:
    """Compiled rules over the vendored Media Topic list."""

    def __init__(self, topics: Iterable[Topic], rules: Iterable[Rule] = RULES, max_topics: int = 3) -> None:
        self.topics = {t.code: t for t in topics}
        self.max_topics = max_topics
        self._stemmer = uncached_stemmer()
        self._stem_cache: dict[str, str] = {}
        self._rules: list[tuple[Rule, dict[tuple[str, ...], float]]] = []
        self._phrase_starts: set[str] = set()
        for rule in rules:
            if rule.code not in self.topics:
                raise ValueError(f"rule for unknown or retired topic {rule.code}")
            stemmed = {tuple(self._stems(term)): w for term, w in rule.terms.items()}
            self._phrase_starts.update(g[0] for g in stemmed if len(g) > 1)
            self._rules.append((rule, stemmed))
        self._by_gram: dict[tuple[str, ...], list[tuple[int, float]]] = {}
        for r, (_, stemmed) in enumerate(self._rules):
            for g, w in stemmed.items():
                self._by_gram.setdefault(g, []).append((r, w))
        self._unigrams = frozenset(g[0] for g in self._by_gram if len(g) == 1)

    @classmethod
    def from_file(cls, path: Path) -> TopicRules:
        return cls(load_topics(path))

    def _stems(self, text: str) -> list[str]:
        words = _words(text.lower().replace("’", "'"))
        return stem_words(self._stemmer, self._stem_cache, words)

    def _grams(self, stems: list[str]) -> Counter[tuple[str, ...]]:
        """Counts of the rule grams in ``stems`` (one- to three-word), and only those."""
        wanted = self._by_gram
        grams: Counter[tuple[str, ...]] = Counter()
        for s in self._unigrams.intersection(stems):
            grams[(s,)] = 0
        for i in compress(range(len(stems)), map(self._phrase_starts.__contains__, stems)):
            if (two := tuple(stems[i : i + 2])) in wanted:
                grams[two] += 1
            if (three := tuple(stems[i : i + 3])) in wanted:
                grams[three] += 1
        if grams:
            counts = Counter(stems)
            for g in grams:
                if len(g) == 1:
                    grams[g] = counts[g[0]]
        return grams

    def score(self, headline: str, body: str) -> dict[str, float]:
        """Rule scores (only those at or above their threshold), top-level topics included."""
        head_stems, body_stems = self._stems(headline), self._stems(body)
        scale = SHORT_SCALE if len(head_stems) + len(body_stems) < SHORT_WORDS else 1.0
        hits: Counter[tuple[str, ...]] = Counter()
        for g, n in self._grams(head_stems).items():
            hits[g] += 2 * n
        for g, n in self._grams(body_stems).items():
            hits[g] += min(n, BODY_HIT_CAP)
        totals = [0.0] * len(self._rules)
        for g, n in hits.items():
            for r, w in self._by_gram.get(g, ()):
                totals[r] += w * n
        fired: dict[str, float] = {}
        for (rule, _), s in zip(self._rules, totals, strict=True):
            if s >= rule.threshold * scale:
                fired[rule.code] = s
        for code, s in list(fired.items()):
            topic = self.topics[code]
            if topic.level > 1:
                root = self._root(code)
                fired[root] = max(fired.get(root, 0.0), s)
        return fired

    def _root(self, code: str) -> str:
        topic = self.topics[code]
        while topic.parent is not None and topic.parent in self.topics:
            topic = self.topics[topic.parent]
        return topic.code

    def subjects(self, headline: str, body: str) -> list[SubjectTag]:
        """The subject tags for an article, best first, deterministic order."""
        fired = self.score(headline, body)
        if not fired:
            return []
        roots = sorted((c for c in fired if self.topics[c].level == 1), key=lambda c: (-fired[c], c))
        keep = set(roots[: self.max_topics])
        chosen = [c for c in fired if self._root(c) in keep]
        best = max(fired[c] for c in chosen)
        thresholds = {r.code: r.threshold for r, _ in self._rules}
        tags = []
        for code in sorted(chosen, key=lambda c: (-fired[c], self.topics[c].level, c)):
            s = fired[code]
            threshold = thresholds.get(code, 4.0)
            topic = self.topics[code]
            tags.append(
                SubjectTag(
                    code=code,
                    name=topic.name,
                    uri=topic.uri,
                    relevance=round(100 * s / best),
                    confidence=min(99, round(100 * (1 - math.exp(-s / threshold)))),
                    creator=RULES_CREATOR,
                )
            )
        return tags
