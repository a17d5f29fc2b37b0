"""The shipped CAP areas: every region's outline in lat/lon, simplified, as polygons
without holes (CAP's <polygon> is one ring; several polygons in an area are their union).

tools/build_cap_areas.py writes `cap-areas.json.gz` from the same cleaned coverage as the
map and "where am I", so the three agree. A region with a hole (Kyiv oblast around Kyiv
city) is cut through each hole into pieces whose union is the region, hole left out. Rings
are lon/lat integer deltas in units of QUANTUM degrees, as the locate cells are stored.

Regions the source has no boundary for (Crimea's hromadas, three hromadas OSM lacks) take
the area of the nearest region above them that has one: an alert there is not lost by a
reader that targets by polygon, at the price of reaching a little too far.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.geo.cells import decode_ring, encode_ring
from tryvoha.geo.layers import read_data

FORMAT = 1
QUANTUM = 1e-4  # degrees: about 11 m, finer than the simplification
FILE = "cap-areas.json.gz"

LatLonRing = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class RegionArea:
    region_id: RegionId  # whose boundary this is: the region itself or one above it
    approximate: bool  # no published boundary: an area drawn around the place
    rings: tuple[NDArray[np.int32], ...]  # encoded lon/lat deltas, one per polygon

    def polygons(self) -> tuple[LatLonRing, ...]:
        """Closed rings of (lat, lon), as CAP writes them."""
        out = []
        for ring in self.rings:
            points = decode_ring(ring, QUANTUM)
            pairs = [(float(lat), float(lon)) for lon, lat in points.tolist()]
            out.append((*pairs, pairs[0]))
        return tuple(out)

    @property
    def vertices(self) -> int:
        return sum(len(r) // 2 + 1 for r in self.rings)


def encode(rings_lonlat: list[NDArray[np.float64]]) -> list[list[int]]:
    """Closed lon/lat rings to the file's form (the builder's half of the format)."""
    return [encode_ring(r, QUANTUM) for r in rings_lonlat]


def dumps(areas: Mapping[RegionId, tuple[bool, list[list[int]]]], meta: dict[str, Any]) -> bytes:
    doc = {
        "format": FORMAT,
        "quantum": QUANTUM,
        **meta,
        "areas": [
            {"region": rid, "approximate": approximate, "rings": rings}
            for rid, (approximate, rings) in sorted(areas.items())
        ],
    }
    return gzip.compress(orjson.dumps(doc), compresslevel=9, mtime=0)


def loads(data: bytes) -> dict[RegionId, RegionArea]:
    doc = orjson.loads(gzip.decompress(data))
    if doc.get("format") != FORMAT or doc.get("quantum") != QUANTUM:
        raise ValueError(f"{FILE}: format {doc.get('format')} is not {FORMAT}")
    return {
        RegionId(a["region"]): RegionArea(
            RegionId(a["region"]),
            bool(a["approximate"]),
            tuple(np.asarray(r, dtype=np.int32) for r in a["rings"]),
        )
        for a in doc["areas"]
    }


@cache
def cap_areas() -> dict[RegionId, RegionArea]:
    """Loaded once (about 0.2 s); callers on the event loop load it in a thread first."""
    return loads(read_data(FILE))


def area_of(
    areas: Mapping[RegionId, RegionArea], tree: RegionTree, region_id: RegionId
) -> RegionArea | None:
    """The region's own area, or that of the nearest region above it that has one."""
    for candidate in (region_id, *tree.ancestors(region_id)):
        found = areas.get(candidate)
        if found is not None:
            return found
    return None
