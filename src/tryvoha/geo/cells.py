"""The shipped "where am I" cells: polygons that tile the country, each naming the most
specific region it belongs to, in lon/lat quantised to QUANTUM degrees (about a metre).

Rings are stored as integer deltas (x0, y0, dx1, dy1, ...), which compress well. The
builder (tools/build_boundaries.py) writes them; the locator reads them.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import orjson
import shapely
from numpy.typing import NDArray

from tryvoha.domain.regions import RegionId

FORMAT = 1
QUANTUM = 1e-5  # degrees: 1.1 m north-south, 0.7 m east-west at 50 °N

Ring = list[int]
Polygon = list[Ring]


class CellKind(StrEnum):
    BOUNDARY = "boundary"  # the region's own surveyed boundary
    REMAINDER = "remainder"  # part of a raion that no hromada boundary covers
    APPROXIMATE = "approximate"  # no boundary is published: an area drawn around the place


@dataclass(frozen=True, slots=True)
class Cell:
    region_id: RegionId
    kind: CellKind
    geometry: shapely.Geometry


def encode_ring(coords: NDArray[np.float64], quantum: float = QUANTUM) -> Ring:
    """Closed ring of lon/lat (first point repeated at the end, as shapely gives it)."""
    q = np.round(np.asarray(coords)[:-1] / quantum).astype(np.int64)
    deltas = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    return [int(v) for v in deltas.ravel()]


def decode_ring(
    ring: Sequence[int] | NDArray[np.int32], quantum: float = QUANTUM
) -> NDArray[np.float64]:
    """The ring's points, open (the first is not repeated at the end)."""
    q = np.cumsum(np.asarray(ring, dtype=np.int64).reshape(-1, 2), axis=0)
    return np.asarray(q, dtype=np.float64) * quantum


def encode_geometry(geometry: shapely.Geometry) -> list[Polygon]:
    polygons = getattr(geometry, "geoms", [geometry])
    return [
        [encode_ring(np.asarray(p.exterior.coords))]
        + [encode_ring(np.asarray(r.coords)) for r in p.interiors]
        for p in polygons
        if not p.is_empty
    ]


def decode_geometry(polygons: Sequence[Polygon]) -> shapely.Geometry:
    parts = [
        shapely.Polygon(decode_ring(rings[0]), [decode_ring(r) for r in rings[1:]])
        for rings in polygons
    ]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def dumps(cells: Sequence[Cell], source: str) -> bytes:
    doc: dict[str, Any] = {
        "format": FORMAT,
        "quantum": QUANTUM,
        "source": source,
        "cells": [
            {"region": c.region_id, "kind": c.kind.value, "polygons": encode_geometry(c.geometry)}
            for c in cells
        ],
    }
    return gzip.compress(orjson.dumps(doc), compresslevel=9, mtime=0)


def loads(data: bytes) -> Iterator[Cell]:
    doc = orjson.loads(gzip.decompress(data))
    if doc.get("format") != FORMAT or doc.get("quantum") != QUANTUM:
        raise ValueError(f"locate cells: format {doc.get('format')} is not {FORMAT}")
    for c in doc["cells"]:
        yield Cell(RegionId(c["region"]), CellKind(c["kind"]), decode_geometry(c["polygons"]))
