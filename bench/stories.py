"""Stories of realistic size for the benchmarks: 300-500 words, varied, deterministic with a seed.

The text is our own: sentences composed from templates, with places and organisations drawn from
the wire's vocabulary (so the enricher finds real entities) and people from name lists below.
"""

from __future__ import annotations

import gzip
import json
import random
from functools import cache
from pathlib import Path

VOCABULARY = Path(__file__).resolve().parent.parent / "services" / "enrich" / "data" / "vocabulary.json.gz"

FIRST = ["Anna", "Tomas", "Leila", "Marco", "Ingrid", "Samuel", "Noor", "Pavel", "Grace", "Kenji", "Amara", "Lucas",
         "Fatima", "Oskar", "Elena", "David", "Mei", "Rafael", "Hana", "Jonas", "Priya", "Victor", "Sofia", "Ibrahim"]
LAST = ["Lindqvist", "Okafor", "Moreau", "Novak", "Haddad", "Brennan", "Castillo", "Sato", "Kowalski", "Mensah",
        "Ferreira", "Petrov", "Andersen", "Rahman", "Keller", "Duarte", "Nakamura", "Osei", "Varga", "Whitfield"]
ROLES = ["the mayor", "a spokeswoman", "the finance minister", "a union leader", "the chief executive",
         "a senior official", "the regional governor", "an independent analyst", "the party leader", "a local resident"]
SUBJECTS = [
    ("storm", "flooding", "emergency crews", "the coast road"),
    ("budget", "spending cuts", "the treasury", "public services"),
    ("strike", "pay talks", "rail workers", "commuter services"),
    ("election", "the vote count", "polling stations", "the new council"),
    ("harbour", "the shipping lane", "port authorities", "container traffic"),
    ("hospital", "waiting lists", "health officials", "the emergency ward"),
    ("energy", "gas prices", "the grid operator", "household bills"),
    ("court", "the ruling", "defence lawyers", "the appeal"),
    ("festival", "ticket sales", "the organisers", "the old town"),
    ("farm", "the harvest", "farmers' groups", "grain exports"),
    ("bridge", "the repairs", "city engineers", "the river crossing"),
    ("school", "the new curriculum", "teachers' unions", "exam results"),
]
# Details give each story words of its own, as real copy has (a related-links index over copy where
# every story uses the same few hundred words would be far busier than over real news).
QUALITIES = ["disputed", "long-delayed", "emergency", "temporary", "regional", "controversial", "new", "former",
             "unfinished", "proposed", "overdue", "costly", "northern", "southern", "eastern", "western", "riverside",
             "coastal", "rural", "municipal", "cross-border", "state-owned", "privately run", "volunteer-led",
             "flood-hit", "crowded", "shuttered", "half-built", "decades-old", "underfunded"]
THINGS = ["bypass", "grain silo", "ferry terminal", "tram line", "pension fund", "water treatment plant", "airfield",
          "steelworks", "fishing fleet", "border crossing", "maternity unit", "power station", "ring road", "dairy co-op",
          "wind farm", "primary school", "cargo depot", "railway viaduct", "cathedral roof", "refugee shelter",
          "copper mine", "bus depot", "tax rebate", "housing estate", "sea wall", "vineyard", "textile mill", "reservoir",
          "tunnel project", "food bank", "customs post", "orchestra", "football stadium", "landfill site", "paper mill",
          "canal lock", "cement works", "ski resort", "timber yard", "data centre", "sugar refinery", "marina",
          "fire station", "courthouse", "library", "toll bridge", "lighthouse", "oil terminal", "pharmacy chain"]
ACTIONS = ["closure", "expansion", "sale", "inspection", "funding", "reopening", "audit", "rebuilding", "strike",
           "evacuation", "privatisation", "relocation", "redesign", "shutdown", "takeover", "repair", "licence"]
HEADLINES = [
    "{Place} {detail} {action} divides {group}",
    "{Org} halts {detail} {action}",
    "{Person} defends {detail} {action} in {Place}",

    "{Place} {topic} leaves {detail} in doubt",
    "{Org} warns over {detail} {action} in {Place}",
    "{Person} promises action on {detail}",
    "{Place}: {group} prepare for {detail} {action}",
    "{Org} and {Place} reach deal on {detail}",
    "Questions mount over {detail} after {Place} {topic}",
]
LEADS = 6  # the first sentences of SENTENCES open a story: a lead is specific
SENTENCES = [
    "The {detail} has been at the centre of the row since {year}, when plans for its {action} were first drawn up.",
    "{Person} said the {detail} would need {number} million more before any {action} could begin.",
    "Workers at the {detail} were told on {day} that the {action} would go ahead as planned.",
    "A report by {Org} found that the {detail} in {Place2} had been neglected for {number} years.",
    "The {action} of the {detail} was approved by {number} votes to {number2} after a long debate.",
    "Residents near the {detail} said they had not been consulted about the {action}.",

    "{Person}, {role}, said on {day} that {topic2} in {Place} would take months to resolve.",
    "Officials in {Place} confirmed that {group} had been called in to deal with {topic2}.",
    "{Org} said in a statement that it was monitoring {thing} closely and would publish figures next week.",
    "The {topic} has already cost {Place} an estimated {number} million, according to {Org}.",
    "\"We are doing everything we can,\" {Person} told reporters outside the council offices.",
    "Critics say {group} were warned about {thing} as long ago as {year}.",
    "In {Place2}, a similar dispute over {topic2} ended after {number} days of negotiations.",
    "{Person} of {Org} said the measures announced on {day} did not go far enough.",
    "Residents of {Place} described long queues and uncertainty about {thing}.",
    "The government in {Place2} has offered support, but no date has been set for talks.",
    "Figures released by {Org} show a rise of {number} per cent since {year}.",
    "{group} said they expected to finish the first phase of work by the end of the month.",
    "Opposition members called for an inquiry into how {topic2} had been handled.",
    "Local businesses in {Place} reported losses, and several shops closed early on {day}.",
    "Analysts said the situation in {Place} could affect {thing} across the region.",
    "{Person}, who has led {Org} since {year}, said the decision was not taken lightly.",
    "A meeting between {Org} and officials from {Place2} is planned for {day}.",
    "The {topic} is the worst of its kind in {Place} for {number} years.",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@cache
def _names() -> tuple[list[str], list[str]]:
    data = json.loads(gzip.decompress(VOCABULARY.read_bytes()))
    places = sorted(data["places"], key=lambda p: -p[3])[:400]  # the best-known places
    return [p[1] for p in places], [o[1] for o in data["organisations"][:200]]


def story(n: int, seed: int = 1) -> dict[str, object]:
    """The ``POST /v1/articles`` body of story ``n`` (the same for the same ``n`` and ``seed``)."""
    rng = random.Random(seed * 1_000_003 + n)
    places, orgs = _names()
    topic, topic2, group, thing = rng.choice(SUBJECTS)
    cast = {
        "Place": rng.choice(places), "Place2": rng.choice(places), "Org": rng.choice(orgs),
        "Person": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "topic": topic, "topic2": topic2, "group": group,
        "thing": thing, "role": rng.choice(ROLES), "day": rng.choice(DAYS),
        "detail": f"{rng.choice(QUALITIES)} {rng.choice(THINGS)}", "action": rng.choice(ACTIONS),
    }
    target = rng.randint(300, 500)
    deck = rng.sample(SENTENCES, len(SENTENCES))  # no sentence twice until all were used
    paragraphs: list[str] = []
    words = 0
    used = 0
    while words < target:
        sentences = []
        for _ in range(rng.randint(2, 4)):
            fill = {**cast, "number": rng.randint(2, 90), "number2": rng.randint(2, 90), "year": rng.randint(1995, 2025)}
            if rng.random() < 0.3:
                fill["Person"] = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            if rng.random() < 0.4:  # a second detail, as longer stories move on to related matters
                fill["detail"] = f"{rng.choice(QUALITIES)} {rng.choice(THINGS)}"
            template = rng.choice(SENTENCES[:LEADS]) if used == 0 else deck[used % len(deck)]
            text = template.format(**fill)
            used += 1
            sentences.append(text[0].upper() + text[1:])
            words += len(text.split())
        paragraphs.append("<p>" + " ".join(sentences) + "</p>")
    headline = rng.choice(HEADLINES).format(**cast)
    return {"headline": headline[0].upper() + headline[1:], "body": "".join(paragraphs),
            "byline": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "dateline": cast["Place"],
            "urgency": rng.choice([3, 4, 5, 5, 5, 6]), "keywords": [topic]}


def story_bytes(n: int, seed: int = 1) -> bytes:
    return json.dumps(story(n, seed)).encode()
