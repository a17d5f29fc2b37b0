"""Build src/tryvoha/data/boundaries/cap-areas.json.gz: every oblast-level unit's, raion's
and hromada's outline in lat/lon for CAP messages, from the same OpenStreetMap extract
and the same cleaned coverage as the map (tools/build_boundaries.py; ODbL).

The map's files are projected and the locate cells are too fine for a message, so CAP
gets its own simplification: per level, topologically (neighbours share simplified
borders), with tolerances chosen so the largest oblast has under a thousand points and a
message with two languages stays far below 100 KB. CAP polygons cannot have holes, so a
region around an enclave (Kyiv oblast around Kyiv city) is cut through each hole into
pieces whose union is the region without the hole. Coordinates are quantised to 1e-4
degrees (about 11 m); a ring that quantising folds is repaired.

  .venv/bin/python tools/build_cap_areas.py [--source DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import build_boundaries as bb
import numpy as np
import shapely

from tryvoha.data import region_tree
from tryvoha.domain.regions import Level, RegionId, RegionTree
from tryvoha.geo import areas
from tryvoha.geo.cells import CellKind, decode_ring

TARGET = bb.TARGET / areas.FILE
# Visvalingam tolerance in degrees (about 110 m per 0.001 degrees of latitude).
TOLERANCE = {Level.OBLAST: 0.005, Level.RAION: 0.004, Level.HROMADA: 0.002}
MAX_VERTICES = 1500  # per region; past it the region alone is simplified further


def log(message: str) -> None:
    print(f"build_cap_areas: {message}", file=sys.stderr, flush=True)


def without_holes(polygon: shapely.Polygon) -> list[shapely.Polygon]:
    """Pieces of the polygon, none with a hole, whose union is the polygon: cut along the
    meridian through a point inside its first hole, and again in each piece."""
    if not polygon.interiors:
        return [polygon]
    hole = shapely.Polygon(polygon.interiors[0])
    x = shapely.get_x(hole.point_on_surface())
    minx, miny, maxx, maxy = polygon.bounds
    out: list[shapely.Polygon] = []
    for box in (
        shapely.box(minx - 1, miny - 1, x, maxy + 1),
        shapely.box(x, miny - 1, maxx + 1, maxy + 1),
    ):
        for part in shapely.get_parts(bb.polygonal(polygon.intersection(box))):
            out.extend(without_holes(part))
    return out


def rings_of(geometry: shapely.Geometry) -> list[list[int]]:
    """Hole-free pieces, quantised; a piece that quantising folds is made valid again."""
    encoded: list[list[int]] = []
    for polygon in shapely.get_parts(geometry):
        for piece in without_holes(polygon):
            ring = areas.encode([np.asarray(piece.exterior.coords)])[0]
            back = shapely.Polygon(decode_ring(ring, areas.QUANTUM))
            if len(ring) < 6 or back.area == 0:
                continue  # smaller than the quantum: nothing a reader could target
            if back.is_valid:
                encoded.append(ring)
            else:
                encoded.extend(rings_of(bb.polygonal(shapely.make_valid(back))))
    return encoded


def level_shapes(
    tree: RegionTree, leaves: list[tuple[RegionId, CellKind, shapely.Geometry]], level: Level
) -> dict[RegionId, shapely.Geometry]:
    """Every region at `level`, dissolved from the leaves and simplified as one coverage."""
    find = bb.group_of(tree, level)
    groups: dict[RegionId, list[shapely.Geometry]] = defaultdict(list)
    for rid, _, geometry in leaves:
        groups[find(rid)].append(geometry)
    ids = sorted(groups)
    dissolved = [shapely.coverage_union_all(groups[r]) for r in ids]
    simplified = shapely.coverage_simplify(np.array(dissolved, dtype=object), TOLERANCE[level])
    out = {}
    for rid, shape in zip(ids, simplified, strict=True):
        if tree.get(rid).level is not level:
            continue  # a raion part no hromada covers, or Kyiv city below the oblast level
        tolerance = TOLERANCE[level]
        while shapely.get_num_coordinates(shape) > MAX_VERTICES:
            tolerance *= 1.5
            shape = shapely.simplify(shape, tolerance, preserve_topology=True)
        out[rid] = shape
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=bb.SOURCE)
    parser.add_argument("--target", type=Path, default=TARGET)
    args = parser.parse_args()
    started = time.monotonic()
    tree = region_tree()
    leaves = bb.leaf_cells(args.source, tree)

    found: dict[RegionId, tuple[bool, list[list[int]]]] = {}
    for level in (Level.OBLAST, Level.RAION, Level.HROMADA):
        shapes = level_shapes(tree, leaves, level)
        for rid, shape in shapes.items():
            found[rid] = (False, rings_of(shape))
        vertices = [sum(len(r) // 2 + 1 for r in found[rid][1]) for rid in shapes]
        log(f"{level}: {len(shapes)} regions, {sum(vertices)} points, at most {max(vertices)}")

    country = shapely.coverage_union_all([g for _, _, g in leaves])
    sevastopol = shapely.simplify(bb.sevastopol_cell(country), TOLERANCE[Level.OBLAST])
    found[bb.SEVASTOPOL] = (True, rings_of(sevastopol))

    data = areas.dumps(
        found,
        {
            "source": "OpenStreetMap via github.com/darmat1/ukraine-geo-data (ODbL)",
            "attribution": "© OpenStreetMap contributors (ODbL)",
            "tolerance_degrees": {level.value: t for level, t in TOLERANCE.items()},
        },
    )
    args.target.write_bytes(data)
    log(f"{args.target.name}: {len(found)} regions, {len(data) // 1024} KiB")
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
