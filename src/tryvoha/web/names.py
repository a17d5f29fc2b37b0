"""Region names as pages show them, in one form per language: full names for lists and
headings, short ones for map labels.

Ukrainian is the codifier's own (regions.csv); English and French come from names.csv
("Chernihiv Oblast", "Shostka hromada", "Oblast de Tchernihiv"; see the data's
PROVENANCE.md). The browser gets the same names in /map/regions.json and picks them with
the same rule (static/js/i18n.js `nameOf`); tests/web/cases/names.json holds both to it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

import orjson

from tryvoha.data import open_text
from tryvoha.domain.regions import RegionId

LEVEL_CODES = {"country": "c", "oblast": "o", "raion": "r", "hromada": "h"}
# Map labels where the codifier's short form is the whole long name.
SHORT_UK = {RegionId("UA01000000000013043"): "АР Крим"}


@dataclass(frozen=True, slots=True)
class Names:
    parent_id: RegionId | None
    level: str
    kind: str  # country, oblast, republic, city (with special status), raion, hromada
    full_by_lang: dict[str, str]  # uk: Львівська область, en: Lviv Oblast, fr: Oblast de Lviv
    short_by_lang: dict[str, str]  # uk: Львівська, en: Lviv, fr: Lviv
    translit: str  # the KMU-2010 name (Lvivska oblast): found by search, never shown

    def full(self, lang: str) -> str:
        return self.full_by_lang.get(lang) or self.full_by_lang["en"]

    def short(self, lang: str) -> str:
        return self.short_by_lang.get(lang) or self.short_by_lang["en"]


def display_name(region_id: str, lang: str = "en") -> str:
    """A region's full name as the pages write it (the CLI prints the same); the id if unknown."""
    found = region_names().get(RegionId(region_id))
    return found.full(lang) if found else region_id


def short_name(region_id: str, lang: str = "en") -> str:
    """A region's short name, as the map labels it ("Сумська", "Sumy"); the id if unknown."""
    found = region_names().get(RegionId(region_id))
    return found.short(lang) if found else region_id


@cache
def region_names() -> dict[RegionId, Names]:
    with open_text("regions.csv") as f:
        rows = list(csv.DictReader(f))
    with open_text("names.csv") as f:
        other = {r["id"]: r for r in csv.DictReader(f)}
    out = {}
    for r in rows:
        rid = RegionId(r["id"])
        n = other[rid]
        out[rid] = Names(
            parent_id=RegionId(r["parent_id"]) if r["parent_id"] else None,
            level=r["level"],
            kind=n["kind"],
            full_by_lang={"uk": r["name_uk"], "en": n["en"], "fr": n["fr"]},
            short_by_lang={
                "uk": SHORT_UK.get(rid) or r["short_uk"] or r["name_uk"],
                "en": n["short_en"],
                "fr": n["short_fr"],
            },
            translit=r["name_en"],
        )
    return out


FIELDS = ["id", "parent", "level", "kind", "uk", "short_uk", "en", "short_en", "fr", "short_fr"]


def index_json() -> bytes:
    """Every region for the browser, one row each in the order of FIELDS plus "alt" (the
    transliterated name, for search only).

    The pages need it to name the region of any event, to work out effective state
    (ancestors) and to search by name; it changes only with the package.
    """
    rows = [
        [
            rid,
            n.parent_id or "",
            LEVEL_CODES[n.level],
            n.kind,
            n.full_by_lang["uk"],
            n.short_by_lang["uk"],
            n.full_by_lang["en"],
            n.short_by_lang["en"],
            n.full_by_lang["fr"],
            n.short_by_lang["fr"],
            n.translit,
        ]
        for rid, n in region_names().items()
    ]
    return orjson.dumps({"fields": [*FIELDS, "alt"], "regions": rows})
