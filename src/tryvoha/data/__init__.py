"""Data shipped with the package: the region tree (and, in sub-folders, boundaries,
history and the place ids of the compatible APIs). See PROVENANCE.md beside these files."""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources
from typing import cast

from tryvoha.domain.regions import Level, Region, RegionId, RegionTree
from tryvoha.protocol.compat_locations import Kind, Location, Locations


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


@cache
def compat_locations() -> Locations:
    """The place ids of alerts.in.ua and ukrainealarm, mapped to our regions (compat/)."""
    with open_text("compat/locations.csv") as f:
        rows = list(csv.DictReader(f))
    return Locations(
        Location(
            uid=int(r["uid"]),
            region_id=RegionId(r["region_id"]) if r["region_id"] else None,
            kind=cast(Kind, r["kind"]),
            parent_uid=int(r["parent_uid"]) if r["parent_uid"] else None,
            ukrainealarm_name=r["ukrainealarm_name"],
            title=r["alerts_in_ua_title"],
            type=r["alerts_in_ua_type"],
        )
        for r in rows
    )
