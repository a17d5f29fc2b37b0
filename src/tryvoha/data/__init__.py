"""Data shipped with the package: the region tree (and, in sub-folders, boundaries and
history). See PROVENANCE.md beside these files."""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

from tryvoha.domain.regions import Level, Region, RegionId, RegionTree


def open_text(name: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        resources.files(__package__).joinpath(name).open("rb"), encoding="utf-8"
    )


@cache
def region_tree() -> RegionTree:
    """Ukraine: the country, 27 oblast-level units, 136 raions and 1,772 hromadas (KATOTTG)."""
    with open_text("regions.csv") as f:
        rows = list(csv.DictReader(f))
    return RegionTree(
        Region(
            id=RegionId(r["id"]),
            level=Level(r["level"]),
            parent_id=RegionId(r["parent_id"]) if r["parent_id"] else None,
            name_uk=r["name_uk"],
            name_en=r["name_en"],
            aliases=tuple(a for a in (r["short_uk"], r["short_en"], r["common_en"]) if a),
        )
        for r in rows
    )
