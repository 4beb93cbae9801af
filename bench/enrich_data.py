"""Loaders for the evaluation sets in ``../shared/data`` and a synthetic stand-in for ``--quick`` tests.

Nothing here is copied into the repository: every loader reads the shared folder at run time.
"""

from __future__ import annotations

import csv
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

GOLD_TYPES = {"PER": "person", "ORG": "organisation", "LOC": "place", "MISC": "misc"}


@dataclass
class ConllDoc:
    """One CoNLL document: tokens, their IOB1 tags, and sentence boundaries (token index of each start)."""

    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    sentence_starts: list[int] = field(default_factory=list)

    def spans(self) -> set[tuple[int, int, str]]:
        """Gold entities as (first token, end token, type) under IOB1."""
        out: set[tuple[int, int, str]] = set()
        start, kind = -1, ""
        for i, tag in enumerate([*self.tags, "O"]):
            prefix, _, label = tag.partition("-")
            if start >= 0 and (tag == "O" or label != kind or prefix == "B"):
                out.add((start, i, GOLD_TYPES[kind]))
                start = -1
            if tag != "O" and start < 0:
                start, kind = i, label
        return out


@dataclass(frozen=True)
class Article:
    """An article of an evaluation set: ``group`` is the relevance class (story, topic), ``label`` the topic class."""

    id: str
    headline: str
    text: str
    group: str = ""
    label: str = ""


def read_conll(path: Path) -> list[ConllDoc]:
    docs: list[ConllDoc] = []
    for chunk in re.split(r"(?m)^-DOCSTART-.*$", path.read_text(encoding="utf-8")):
        if not chunk.strip():
            continue
        doc = ConllDoc()
        for sentence in chunk.strip().split("\n\n"):
            rows = [line.split() for line in sentence.splitlines() if line.strip()]
            if not rows:
                continue
            doc.sentence_starts.append(len(doc.tokens))
            for row in rows:
                doc.tokens.append(row[0])
                doc.tags.append(row[-1])
        docs.append(doc)
    return docs


def read_bbc(data: Path) -> list[Article]:
    path = data / "bbc_news" / "bbc_fulltext.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Article(f"bbc:{r['id']}", r["title"].strip(), r["text"].strip(), label=r["category"]) for r in rows]


def read_ag(data: Path) -> list[Article]:
    with open(data / "ag_news" / "test.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for i, r in enumerate(rows):
        text = r["description"].replace("#36;", "$").replace("\\", " ")
        out.append(Article(f"ag:{i}", r["title"].strip(), text.strip(), label=r["label"]))
    return out


def read_wikiref(data: Path) -> list[Article]:
    path = data / "wikiref" / "wikiref220.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for r in rows:
        lines = [ln.strip() for ln in r["text"].replace("\r\n", "\n").split("\n")]
        headline = next((ln for ln in lines if ln), "")
        body = "\n\n".join(ln for ln in lines[lines.index(headline) + 1 :] if ln) if headline else ""
        out.append(Article(f"wikiref:{r['file']}", headline, body, group=r["topic"]))
    return out


def read_uci(data: Path) -> list[Article]:
    path = data / "uci_news_aggregator_sample" / "uci-news-aggregator_first999.csv"
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [Article(f"uci:{r['ID']}", r["TITLE"].strip(), "", group=r["STORY"], label=r["CATEGORY"]) for r in rows]


# --- A synthetic stand-in (for ``--quick`` tests without the shared data, and for large archives) -----

_TOPICS = {
    "business": "shares profit market investors bank company revenue quarter economy prices",
    "sport": "match football league goal coach season players championship team victory",
    "politics": "government minister election parliament vote party campaign policy opposition cabinet",
    "tech": "software internet computer technology researchers digital smartphone online network data",
    "entertainment": "film music album actor festival award concert theatre singer movie",
}
_PLACES = ["London", "Paris", "Berlin", "Madrid", "Rome", "Tokyo", "Moscow", "Kyiv", "Minsk", "Warsaw"]
_PEOPLE = ["Anna Kowalska", "John Smith", "Maria Rossi", "Li Wei", "Omar Haddad", "Sophie Martin"]
_ORGS = ["Acme Group", "Northwind Bank", "Globex Corporation", "United Nations", "Central Bank"]
_FILLER_WORDS = "the said on in a of and to for with after its new by from at about over more than which"
_FILLER = tuple(_FILLER_WORDS.split())


def synthetic_articles(n: int, seed: int = 7, groups: int = 0) -> list[Article]:
    """``n`` short articles in the five BBC classes; with ``groups`` > 0, each belongs to one of that
    many stories that share a place, a person and a few story words (for related-link scoring)."""
    rng = random.Random(seed)
    topics = sorted(_TOPICS)
    story_words = [f"story{g}word{w}" for g in range(max(groups, 1)) for w in range(3)]
    out = []
    for i in range(n):
        topic = topics[i % len(topics)]
        words = _TOPICS[topic].split()
        g = i % groups if groups else rng.randrange(10**6)
        srng = random.Random(g)
        place, person, org = srng.choice(_PLACES), srng.choice(_PEOPLE), srng.choice(_ORGS)
        own = story_words[(g % max(groups, 1)) * 3 : (g % max(groups, 1)) * 3 + 3] if groups else []
        head = f"{place} {rng.choice(words)} {rng.choice(words)} {' '.join(own)}".strip()
        sentences = []
        for _ in range(4):
            picks = [rng.choice(words) for _ in range(5)] + [rng.choice(_FILLER) for _ in range(6)]
            rng.shuffle(picks)
            sentences.append(" ".join(picks).capitalize() + ".")
        body = f"{person} of {org} said in {place} that {' '.join(own)} {' '.join(sentences)}"
        out.append(Article(f"syn:{seed}:{i}", head.capitalize(), body, group=f"g{g}" if groups else "", label=topic))
    return out


def synthetic_conll(n_docs: int, seed: int = 11) -> list[ConllDoc]:
    """Tiny CoNLL-shaped documents with PER/ORG/LOC entities from the synthetic name lists."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        doc = ConllDoc()
        for _ in range(3):
            doc.sentence_starts.append(len(doc.tokens))
            person, org, place = rng.choice(_PEOPLE), rng.choice(_ORGS), rng.choice(_PLACES)
            for words, tag in (
                (person.split(), "I-PER"),
                (["said"], "O"),
                (["in"], "O"),
                ([place], "I-LOC"),
                (["that"], "O"),
                (org.split(), "I-ORG"),
                (["grew", "."], "O"),
            ):
                doc.tokens += words
                doc.tags += [tag] * len(words)
        docs.append(doc)
    return docs


def write_synthetic_data(folder: Path, seed: int = 5) -> None:
    """A tiny stand-in for ``../shared/data`` in the same file formats (for tests of ``bench.enrich``)."""

    def conll(docs: list[ConllDoc]) -> str:
        out = []
        for doc in docs:
            starts = set(doc.sentence_starts)
            for i, (tok, tag) in enumerate(zip(doc.tokens, doc.tags, strict=True)):
                if i in starts and i:
                    out.append("")
                out.append(f"{tok} NNP O {tag}")
            out += ["", "-DOCSTART- -X- O O", ""]
        return "\n".join(out)

    (folder / "conll2003").mkdir(parents=True, exist_ok=True)
    (folder / "conll2003" / "eng.train").write_text(conll(synthetic_conll(30, seed)), encoding="utf-8")
    (folder / "conll2003" / "eng.testb").write_text(conll(synthetic_conll(10, seed + 1)), encoding="utf-8")
    articles = synthetic_articles(60, seed)
    (folder / "bbc_news").mkdir(exist_ok=True)
    with open(folder / "bbc_news" / "bbc_fulltext.jsonl", "w", encoding="utf-8") as f:
        for i, a in enumerate(articles):
            f.write(json.dumps({"id": f"{a.label}/{i:03d}.txt", "category": a.label, "title": a.headline, "text": a.text}) + "\n")
    ag_labels = {"politics": "1", "sport": "2", "business": "3", "tech": "4"}
    (folder / "ag_news").mkdir(exist_ok=True)
    with open(folder / "ag_news" / "test.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "title", "description"])
        for a in synthetic_articles(40, seed + 2):
            if a.label in ag_labels:
                writer.writerow([ag_labels[a.label], a.headline, a.text[:200]])
    grouped = synthetic_articles(40, seed + 3, groups=6)
    (folder / "wikiref").mkdir(exist_ok=True)
    with open(folder / "wikiref" / "wikiref220.jsonl", "w", encoding="utf-8") as f:
        for i, a in enumerate(grouped):
            f.write(json.dumps({"file": f"{a.group}.{i}.txt", "topic": a.group, "text": f"{a.headline}\r\n\r\n{a.text}"}) + "\n")
    (folder / "uci_news_aggregator_sample").mkdir(exist_ok=True)
    with open(folder / "uci_news_aggregator_sample" / "uci-news-aggregator_first999.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ID", "TITLE", "URL", "PUBLISHER", "CATEGORY", "STORY", "HOSTNAME", "TIMESTAMP"])
        for i, a in enumerate(synthetic_articles(30, seed + 4, groups=5)):
            writer.writerow([i + 1, a.headline, f"http://example.com/{i}", "Example", "b", a.group, "example.com", "1.39E+12"])
