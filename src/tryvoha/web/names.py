"""Region names as pages show them: full names for lists, short ones for map labels."""

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
    full_uk: str  # Львівська область
    full_en: str  # Lvivska oblast (KMU-2010, as the API names it)
    short_uk: str  # Львівська
    short_en: str  # Lviv (the common English name where there is one)

    def full(self, lang: str) -> str:
        return self.full_uk if lang == "uk" else self.full_en

    def short(self, lang: str) -> str:
        return self.short_uk if lang == "uk" else self.short_en


@cache
def region_names() -> dict[RegionId, Names]:
    with open_text("regions.csv") as f:
        rows = list(csv.DictReader(f))
    return {
        RegionId(r["id"]): Names(
            parent_id=RegionId(r["parent_id"]) if r["parent_id"] else None,
            level=r["level"],
            full_uk=r["name_uk"],
            full_en=r["name_en"],
            short_uk=SHORT_UK.get(RegionId(r["id"])) or r["short_uk"] or r["name_uk"],
            short_en=r["common_en"] or r["short_en"] or r["name_en"],
        )
        for r in rows
    }


def index_json() -> bytes:
    """Every region for the browser: [id, parent, level, full uk, full en, short uk, short en].

    The pages need it to name the region of any event, to work out effective state
    (ancestors) and to search by name; it changes only with the package.
    """
    rows = [
        [rid, n.parent_id or "", LEVEL_CODES[n.level], n.full_uk, n.full_en, n.short_uk, n.short_en]
        for rid, n in region_names().items()
    ]
    return orjson.dumps(
        {"fields": ["id", "parent", "level", "uk", "en", "short_uk", "short_en"], "regions": rows}
    )
