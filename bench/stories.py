"""Stories of realistic size for the benchmarks: 300-500 words, varied, deterministic with a seed.

The text is our own: sentences composed from templates, with places drawn from the wire's vocabulary
(so the enricher finds real entities), and people and organisations composed from the lists below.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path

from schemas.events import ArticleFiled
from services.ingest.core import sanitise_html


def _words(spec: str) -> list[str]:
    """A word list written as one whitespace-separated string, sorted, without repeats."""
    return sorted(set(spec.split()))


VOCABULARY = Path(__file__).resolve().parent.parent / "services" / "enrich" / "data" / "vocabulary.json.gz"

FIRST = _words("""Anna Tomas Leila Marco Ingrid Samuel Noor Pavel Grace Kenji Amara Lucas Fatima Oskar Elena David Mei
Rafael Hana Jonas Priya Victor Sofia Ibrahim Aiko Bogdan Carmen Dmitri Esther Farid Greta Hamid Irene Jakub Kwame
Lina Mateus Nadia Olga Pedro Quentin Rosa Stefan Tariq Ursula Vera Wanjiru Xavier Yusuf Zofia Adaeze Bruno Chiara
Desmond Emeka Freya Gustavo Hiroshi Ilse Joaquin Katya Lars Miriam Nikolai Orla Paulo Ravi Saoirse Thabo Uma
Valentina Wiktor Yara Zeynep Alejandro Birgit Cheng Dalia Eamon Folake Goran Halima""")
LAST = _words("""Lindqvist Okafor Moreau Novak Haddad Brennan Castillo Sato Kowalski Mensah Ferreira Petrov Andersen Rahman
Keller Duarte Nakamura Osei Varga Whitfield Abara Bjornsson Chaudhry Dimitrov Escobar Fagerlund Gallagher Horvath
Iwu Jankowski Kaur Laine Mbeki Nowicki Ortega Papadakis Quispe Rossi Szabo Tanaka Uzoma Vasquez Wojcik Yilmaz
Zielinski Achterberg Barzani Cardoso Drozdov Eriksen Fontaine Grünewald Hakimi Ishikawa Jovanovic Karimi Lambert
Mwangi Nieminen Oyelaran Pereira Quintero Rasmussen Soto Tremblay Ulloa Villanueva Weiss Xu Yamamoto Zapata
Adeyemi Bergström Costa Dvorak Estrada Fitzgerald Gonzaga Hansen""")
# Organisations of the stories: the few the vocabulary knows, and many named as organisations are
# (a place, a surname or a trade, then a head word the name finder knows).
ORG_HEADS = ["Port Authority", "City Council", "Teachers' Union", "Water Board", "Transport Agency", "Energy Company",
             "Farmers' Association", "University", "Hospital Trust", "Chamber of Commerce", "Development Bank",
             "Football Club", "Housing Association", "Holdings", "Group", "Motors", "Airlines", "Foundation",
             "Institute", "Press"]
TRADES = ["Northern Grain", "Atlantic Freight", "Silver Ridge", "Harbour Line", "Blue Delta", "Red Cedar", "Ironbridge",
          "Clearwater", "Highland Dairy", "Summit Steel", "Eastgate", "Westmoor", "Goldleaf", "Riverbend", "Stonehaven"]
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
          "steelworks", "fishing fleet", "border crossing", "maternity unit", "power station", "ring road",
"dairy co-op",
          "wind farm", "primary school", "cargo depot", "railway viaduct", "cathedral roof", "refugee shelter",
          "copper mine", "bus depot", "tax rebate", "housing estate", "sea wall", "vineyard", "textile mill",
"reservoir",
          "tunnel project", "food bank", "customs post", "orchestra", "football stadium", "landfill site", "paper mill",
          "canal lock", "cement works", "ski resort", "timber yard", "data centre", "sugar refinery", "marina",
          "fire station", "courthouse", "library", "toll bridge", "lighthouse", "oil terminal", "pharmacy chain"]
ACTIONS = ["closure", "expansion", "sale", "inspection", "funding", "reopening", "audit", "rebuilding", "strike",
           "evacuation", "privatisation", "relocation", "redesign", "shutdown", "takeover", "repair", "licence"]
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
# The headline and the lead (what the related-links index reads) are composed from a vocabulary of
# their own, some thousands of words wide, as real leads are. With only the sentence templates below,
# every lead shared the same few hundred words: "plan" was in half of all leads (in real agency leads
# the commonest term is in about one in eight) and a related-links search walked 8.5 times the
# postings it walks over real copy; with these words it walks about 2.3 times as many
# (``python -m bench.copy_stats --real ...`` compares them).
NOUNS = _words("""accord airline airport allowance ambulance archive arena army arsenal asylum audit aviation
bakery ballot bandwidth bank bankruptcy barracks battery beach benefit bid biofuel blackout blockade
bond bonus border boycott brand budget bureau bus cabinet cable campaign campus canal candidate
capital cargo carrier cartel casino cattle ceasefire census charity chemical childcare cinema circus
citizenship clinic coalition coastguard cobalt coffee commuter compensation competition concert
conscription constitution consulate contract copper cotton counterfeit crackdown crane credit crop
currency curfew customs cyberattack dam deadline debt deficit delegation demolition deportation
deposit derivative desalination detention diesel diplomat disease dividend dock doctor donor drone
drought dividend earthquake ebola economy electricity embassy emission employer endowment engine
epidemic erosion euro evacuation exam exhibition expedition export factory fare ferry fertiliser
fine fisheries flight flotation forest fraud freight fuel gallery garrison glacier gold grant
graduate greenhouse guideline harvest heatwave helicopter heritage highway hijacking hospice
hostage hotel household housing hurricane hydrogen immigration import incinerator inflation
inheritance injunction inquiry insurance interest investor irrigation island jail jury kidnapping
laboratory landslide lawsuit lease levy licence lithium livestock loan lockdown lottery malaria
manifesto maritime market marriage measles merger methane migrant militia mine minimum monopoly
monsoon mortgage motorway museum mutiny nickel nurse observatory offshore oilfield orchard outbreak
overdraft ownership paramedic parcel parliament passport patent pension pesticide petrol pharmacy
pipeline plague planning plantation playground plebiscite police pollution port postal poverty
premium prison privacy procurement prosecutor protest pupil quarantine quota railway ransom rates
recession recruitment recycling referendum refinery refugee regulator reactor rent reserve
reservoir retail revenue rice riot robbery royalty rubber salary sanction sanitation satellite
scandal scholarship seabed semiconductor settlement sewage shipyard shortage smuggling solar
spectrum stadium steel stimulus stockpile subsidy subway sugar summit surgeon surplus surveillance
tariff taxi telescope tenant textile theatre timber tobacco toll tourism tractor trade trafficking
tram treaty tribunal tuition tunnel turbine typhoon unemployment uranium vaccine verdict veteran
visa volcano voucher wage warehouse warship wheat whistleblower wildfire wildlife wine workforce
youth zinc zoo
abattoir academy acquittal adoption advert aerospace aid algae alliance aluminium amnesty anthem
apprenticeship aquifer arbitration armistice artillery asbestos auction autopsy avalanche bail ballet bamboo barge
barley battalion bauxite bicycle billboard biodiversity birth blizzard bookshop bridge broadband brewery bullion
bunker bursary butcher cafe calorie cannabis canteen carbon cardinal carnival cathedral cement cemetery ceramics
chess chlorine cholera choir citrus clergy cocoa coding colliery comet commodity compost condominium convoy
coral coroner corridor cosmetics courier cruise cryptocurrency cucumber cycling dairy debris decree dementia
dentist diamond dialysis diaspora dictionary diocese dismissal dolphin dowry dredging dumpling dynasty ecology
elevator embryo enamel encryption escalator estuary ethanol excavation expatriate falcon famine fencing festival
fibre fireworks fishery flax flour fog footbridge forestry fossil fountain fracking franchise frost fungus
furniture gas gemstone genome geothermal ghetto ginger glass goat gravel graveyard grocery gymnasium hailstorm
hangar hedge hemp herring hockey honey hops horse hydropower iceberg incubator infantry ink insulin iron ivory
jetty jewellery kiln kindergarten knitwear lagoon lamb landfill lantern laptop lava leather lemon lifeboat
lighthouse limestone linen locomotive locust lumber magnesium mango manganese marble marathon marina mattress
meadow melon mercury meteor midwife mill mint monastery mosque motorcycle mural mushroom mussel mustard nectar
newsroom noodle nursery oat olive opera orchestra organ ostrich oyster paddy pageant paper parachute pasta
pasture peat pepper pier pigeon pilgrimage pizza plywood polio porcelain potash potato poultry prairie printer
propane pumpkin quarry quartz rabies radar radio raisin ranch reef reindeer rhino rickshaw robot rodent rugby
saffron salmon salt sandstone sardine sawmill scaffolding sculpture seafood seaweed seminary sheep shrimp silk
silver skyscraper slate smog snowfall soap sorghum soybean spinach sponge squid stained-glass starch statue
sterling stork strawberry submarine sulphur sunflower swamp synagogue tapestry tea telecoms tennis termite
thermal tide tile tin titanium tomato tornado toy trawler tulip tuna turkey tyre umbrella university vanilla
vinegar violin vineyard walnut waterfall weaving wetland whale windmill wool yacht yoghurt""")
ADJECTIVES = _words("""annual anonymous armed austere bilateral binding bitter botched bumper chronic civic
clandestine coastal colonial compulsory confidential contested covert crippling cross-party
cut-price debt-laden digital domestic dormant drastic emergency export-led fledgling foreign
fragile frozen fuel-hungry grassroots high-speed illegal indefinite informal interim landmark
lengthy lucrative makeshift maritime mass military modest multi-year nationwide neighbouring
nuclear offshore open-ended overseas parliamentary partial phased pilot post-war provisional
record retroactive rival routine rushed secret seasonal short-lived sovereign sprawling stalled
sweeping symbolic tax-free tentative unpaid unpopular urgent vacant voluntary wartime
abrupt accidental alleged ambitious ancient artisanal bankrupt bespoke blanket breakaway cautious
centralised cheap collapsed concealed conditional contaminated costly cramped crumbling damaged delayed
deregulated derelict disused dwindling eco-friendly elderly elite expired faulty federal flooded forged
fraudulent generous hasty hazardous historic hybrid idle imported inflated inland isolated joint lawless
leaking lopsided mandatory marginal mismanaged mobile obsolete overcrowded overpriced pioneering polluted
prolonged prototype rebel refurbished remote renewable restive rogue rundown rusting sealed shared smuggled
state-backed strategic substandard surprise toxic unauthorised unlicensed unsafe untested""")
VERBS = _words("""abandoned accelerated accused acquired adjourned announced appealed approved audited backed
banned blocked boycotted cancelled capped challenged cleared closed condemned confirmed contested
criticised curbed cut defended delayed denied deported detained disclosed dismissed disputed doubled
dropped eased endorsed ended expanded extended fined froze halted imposed inspected investigated
launched leaked lifted lowered nationalised negotiated opened overturned paused pledged postponed
privatised proposed prosecuted raided raised ratified rejected relaxed reopened restricted revealed
reversed revived scrapped seized settled shelved signed slashed stalled subsidised suspended tightened
tripled unveiled upheld vetoed withdrew
abolished adopted amended audited authorised barred bought capped certified charged commissioned compensated
condemned convicted decommissioned demolished deregulated diverted drafted evacuated exempted exported
financed forfeited grounded hired impounded indicted insured invoiced leased licensed liquidated merged
mortgaged outsourced overhauled patented quarantined rationed rebuilt recalled redrew refinanced rehoused
relocated renamed rerouted restored retired sold sued taxed tested trademarked underwrote unblocked valued""")
ACTORS = _words("""regulators prosecutors lawmakers senators auditors inspectors judges ministers diplomats
investors shareholders creditors lenders insurers exporters importers growers fishermen miners
nurses teachers pilots dockers truckers tenants landlords pensioners students doctors engineers
activists campaigners monitors negotiators mediators envoys donors bankers traders""")
# A sentence of the lead: who, did what, to what, and two phrases that say where, when or about
# what. The only fixed words are prepositions and articles, which the index drops as stop words.
LEAD_SUBJECTS = ["{Person}", "{Org}", "{Actors} in {Place}", "{Place}", "{Person} of {Org}", "{Actors}"]
LEAD_OBJECTS = ["the {adj} {noun} {noun2}", "a {noun} {noun2}", "{number} {adj} {noun} {noun2}", "the {noun} of {Org2}",
                "its {adj} {noun}"]
LEAD_PHRASES = ["in {Place2}", "on {day}", "over {adj} {noun}", "after {noun} {noun2}", "for {noun}", "with {Org2}",
                "against {adj} {noun}", "before {noun} {noun2}", "under {adj} {noun}", "during {noun}", "by {year}"]
HEADLINE_SUBJECTS = ["{Place}", "{Org}", "{Person}", "{Actors}"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@cache
def _names() -> tuple[list[str], list[str]]:
    data = json.loads(gzip.decompress(VOCABULARY.read_bytes()))
    places = sorted(data["places"], key=lambda p: -p[3])[:3000]  # the best-known places
    return [p[1] for p in places], [o[1] for o in data["organisations"][:200]]


def _organisation(rng: random.Random, places: list[str], known: list[str]) -> str:
    roll = rng.random()
    if roll < 0.15:
        return rng.choice(known)
    first = rng.choice(places) if roll < 0.6 else rng.choice(LAST) if roll < 0.8 else rng.choice(TRADES)
    return f"{first} {rng.choice(ORG_HEADS)}"


def story(n: int, seed: int = 1) -> dict[str, object]:
    """The ``POST /v1/articles`` body of story ``n`` (the same for the same ``n`` and ``seed``)."""
    rng = random.Random(seed * 1_000_003 + n)
    places, orgs = _names()
    topic, topic2, group, thing = rng.choice(SUBJECTS)
    cast = {
        "Place": rng.choice(places), "Place2": rng.choice(places), "Org": _organisation(rng, places, orgs),
        "Org2": _organisation(rng, places, orgs),
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
            # the lead: three sentences of its own words
            text = _lead_sentence(rng, fill) if used < 3 else deck[used % len(deck)].format(**fill)
            used += 1
            sentences.append(text[0].upper() + text[1:])
            words += len(text.split())
        paragraphs.append("<p>" + " ".join(sentences) + "</p>")
    headline = _headline(rng, cast)
    return {"headline": headline[0].upper() + headline[1:], "body": "".join(paragraphs),
            "byline": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "dateline": cast["Place"],
            "urgency": rng.choice([3, 4, 5, 5, 5, 6]), "keywords": [topic]}


def _lead_words(rng: random.Random) -> dict[str, str]:
    noun, noun2 = rng.sample(NOUNS, 2)
    return {"noun": noun, "noun2": noun2, "adj": rng.choice(ADJECTIVES), "verb": rng.choice(VERBS),
            "Actors": rng.choice(ACTORS).capitalize()}


def _lead_sentence(rng: random.Random, cast: Mapping[str, object]) -> str:
    """A sentence of the lead: subject, verb, object and two phrases, each with words of its own."""
    parts = [rng.choice(LEAD_SUBJECTS), rng.choice(VERBS), rng.choice(LEAD_OBJECTS), *rng.sample(LEAD_PHRASES, 2)]
    return " ".join(part.format(**{**cast, **_lead_words(rng)}) for part in parts) + "."


def _headline(rng: random.Random, cast: Mapping[str, object]) -> str:
    subject = rng.choice(HEADLINE_SUBJECTS).format(**{**cast, **_lead_words(rng)})
    return "{subject} {verb} {adj} {noun} {noun2}".format(subject=subject, **_lead_words(rng))


def story_bytes(n: int, seed: int = 1) -> bytes:
    return json.dumps(story(n, seed)).encode()


def filed_story(n: int, seed: int, now: datetime, label: str) -> ArticleFiled:
    """Story ``n`` as ingest files it (body sanitised), for the benchmarks that enrich in-process."""
    s = story(n, seed)
    return ArticleFiled(event_id=str(uuid.uuid4()), article_id=f"urn:newswire:article:{label}-{n}", version=1,
                        occurred_at=now, correlation_id=label, headline=str(s["headline"]),
                        body_html=sanitise_html(str(s["body"])))
