"""Build the shipped boundaries in src/tryvoha/data/boundaries/ from the full-resolution
OpenStreetMap extract in ../shared/data/regions/boundaries (ODbL, see PROVENANCE.md there).

Run by developers when the upstream data changes; the output is committed and is all the
package reads at run time:

  locate-cells.json.gz   lon/lat cells that tile the country, for "where am I"
  map-oblast.json        SVG path data (projected, simplified) of every level, the oblasts
  map-raion.json         drawn first and the finer levels loaded when someone zooms in
  map-hromada.json

How: the raions and Kyiv city form the base coverage; each raion is split into its
hromadas (clipped to it) and what no hromada covers (Crimea, where no hromada polygons
exist; the Chornobyl zone; estuaries; the three hromadas OSM lacks). Slivers narrower
than SLIVER_DEGREES between OSM's hromada and raion lines are left as gaps, and GEOS's
coverage cleaner merges every gap into the neighbour with the longest shared border. The
result tiles the country with no gaps or overlaps; every coarser level is dissolved from
it, so the levels agree exactly. Simplification is topological (shared borders are
simplified once), so neighbours never open slivers between them.

  .venv/bin/python tools/build_boundaries.py [--source DIR]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from numpy.typing import NDArray

from tryvoha.data import region_tree
from tryvoha.domain.regions import Level, RegionId, RegionTree
from tryvoha.geo import cells as cellfile
from tryvoha.geo.cells import Cell, CellKind
from tryvoha.geo.layers import LAYER_FORMAT
from tryvoha.geo.projection import UKRAINE

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "regions" / "boundaries"
TARGET = ROOT / "src" / "tryvoha" / "data" / "boundaries"

GAP_DEGREES = 0.002  # gaps narrower than ~150-220 m are merged into a neighbour
SLIVER_DEGREES = 0.001  # raion parts narrower than ~2x this are slivers, not land without a hromada
MIN_REMAINDER_KM2 = 5.0  # smaller raion parts outside every hromada join the neighbouring hromada
LOCATE_TOLERANCE_DEGREES = 0.0002  # median displacement ~15 m, p99 ~45 m: within OSM's own accuracy
# Map units are 100 m. Tolerances (sqrt of the triangle area dropped, Visvalingam) per level:
# at the default width one pixel is ~15 units, so the oblasts are sub-pixel at 2x zoom.
MAP_TOLERANCE = {Level.OBLAST: 8.0, Level.RAION: 8.0, Level.HROMADA: 5.0}
MAP_MARGIN = 60.0  # map units around the country

KYIV_CITY = RegionId("UA80000000000093317")
# Sevastopol has no polygon in the source. The map marks the city centre (OSM node
# 'Севастополь', 44.6167 N 33.5254 E); "where am I" treats the area within
# SEVASTOPOL_RADIUS_KM of it that no surveyed boundary covers as Sevastopol, approximately:
# the city's land (Crimea's polygon stops at its border) and the sea off it.
SEVASTOPOL = RegionId("UA85000000000065278")
SEVASTOPOL_CENTRE = (33.5254, 44.6167)
SEVASTOPOL_RADIUS_KM = 30.0


def log(message: str) -> None:
    print(f"build_boundaries: {message}", file=sys.stderr, flush=True)


def read_features(path: Path) -> dict[RegionId, shapely.Geometry]:
    doc = orjson.loads(path.read_bytes())
    out: dict[RegionId, shapely.Geometry] = {}
    for feature in doc["features"]:
        geometry = shapely.from_geojson(orjson.dumps(feature["geometry"]))
        out[RegionId(feature["properties"]["katottg"])] = shapely.make_valid(geometry)
    return out


def polygonal(geometry: shapely.Geometry) -> shapely.Geometry:
    """Only the polygons of a geometry (an intersection may add lines and points)."""
    parts = shapely.get_parts(geometry)
    polys = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def area_km2(geometry: shapely.Geometry) -> float:
    """Area of a lon/lat geometry (equal-area projection, good to a fraction of a percent)."""
    return float(project(geometry).area) * (UKRAINE.unit_m / 1000) ** 2


def shared_border(a: shapely.Geometry, b: shapely.Geometry) -> float:
    return float(shapely.length(shapely.intersection(a.boundary, b.boundary.buffer(1e-7))))


def leaf_cells(source: Path, tree: RegionTree) -> list[tuple[RegionId, CellKind, shapely.Geometry]]:
    raions = read_features(source / "raions.geojson")
    hromadas = read_features(source / "hromadas.geojson")
    oblasts = read_features(source / "oblasts.geojson")
    for rid in (*raions, *hromadas):
        tree.get(rid)  # every boundary is a region of the tree

    base_ids = [*sorted(raions), KYIV_CITY]
    base = shapely.coverage_clean(
        np.array([raions.get(r, oblasts.get(r)) for r in base_ids], dtype=object),
        gap_width=GAP_DEGREES,
    )
    log(f"base coverage: {len(raions)} raions and Kyiv city, cleaned")

    leaves: list[tuple[RegionId, CellKind, shapely.Geometry]] = []
    for raion_id, raion in zip(base_ids, base, strict=True):
        if raion_id == KYIV_CITY:
            leaves.append((raion_id, CellKind.BOUNDARY, raion))
            continue
        inside = [h for h in tree.children(raion_id) if h in hromadas]
        clipped = [(h, polygonal(hromadas[h].intersection(raion))) for h in inside]
        clipped = [(h, g) for h, g in clipped if not g.is_empty]
        rest = polygonal(raion.difference(shapely.union_all([g for _, g in clipped])))
        for part in shapely.get_parts(rest):
            if part.buffer(-SLIVER_DEGREES).is_empty:
                continue  # a sliver: left as a gap for the cleaner
            if area_km2(part) < MIN_REMAINDER_KM2 and clipped:
                # a pocket between OSM's lines, not a place: give it to a neighbour
                i = max(range(len(clipped)), key=lambda k: shared_border(clipped[k][1], part))
                if shared_border(clipped[i][1], part) > 0:
                    clipped[i] = (clipped[i][0], polygonal(clipped[i][1].union(part)))
                    continue
            leaves.append((raion_id, CellKind.REMAINDER, part))
        leaves.extend((h, CellKind.BOUNDARY, g) for h, g in clipped)
    remainder_ids = {rid for rid, kind, _ in leaves if kind is CellKind.REMAINDER}
    log(f"{len(leaves)} leaves; raions with land outside every hromada: {len(remainder_ids)}")

    cleaned = shapely.coverage_clean(
        np.array([g for _, _, g in leaves], dtype=object), gap_width=GAP_DEGREES
    )
    out = [
        (rid, kind, polygonal(g))
        for (rid, kind, _), g in zip(leaves, cleaned, strict=True)
        if not g.is_empty
    ]
    if not shapely.coverage_is_valid(np.array([g for _, _, g in out], dtype=object)):
        raise SystemExit("the leaf cells do not form a valid coverage")
    merged = merge_by_region(out)
    log(f"leaf coverage cleaned: {len(merged)} cells")
    return merged


def merge_by_region(
    leaves: Iterable[tuple[RegionId, CellKind, shapely.Geometry]],
) -> list[tuple[RegionId, CellKind, shapely.Geometry]]:
    """One cell per (region, kind): a raion's several remainder parts become one."""
    groups: dict[tuple[RegionId, CellKind], list[shapely.Geometry]] = defaultdict(list)
    for rid, kind, geometry in leaves:
        groups[(rid, kind)].append(geometry)
    return [
        (rid, kind, parts[0] if len(parts) == 1 else shapely.coverage_union_all(parts))
        for (rid, kind), parts in groups.items()
    ]


def sevastopol_cell(country: shapely.Geometry) -> shapely.Geometry:
    x, y = UKRAINE.point(*SEVASTOPOL_CENTRE)
    disc = shapely.Point(x, y).buffer(SEVASTOPOL_RADIUS_KM * 1000 / UKRAINE.unit_m, quad_segs=32)
    lonlat = shapely.transform(disc, UKRAINE.inverse)
    return polygonal(lonlat.difference(country))


def locate_cells(
    leaves: list[tuple[RegionId, CellKind, shapely.Geometry]],
) -> list[Cell]:
    simplified = shapely.coverage_simplify(
        np.array([g for _, _, g in leaves], dtype=object), LOCATE_TOLERANCE_DEGREES
    )
    cells = [Cell(rid, kind, g) for (rid, kind, _), g in zip(leaves, simplified, strict=True)]
    country = shapely.coverage_union_all([g for _, _, g in leaves])
    cells.append(Cell(SEVASTOPOL, CellKind.APPROXIMATE, sevastopol_cell(country)))
    # Quantising to QUANTUM can fold a tiny spike over itself: repair such rings.
    out = []
    for cell in cells:
        g = cellfile.decode_geometry(cellfile.encode_geometry(cell.geometry))
        if not g.is_valid:
            g = polygonal(shapely.make_valid(g))
        out.append(Cell(cell.region_id, cell.kind, g))
    return out


# -- map layers ---------------------------------------------------------------------------


def svg_path(geometry: shapely.Geometry) -> str:
    """Integer map units, relative moves: "M12 34l5-3 2 7z"."""
    parts: list[str] = []
    for polygon in shapely.get_parts(geometry):
        for ring in (polygon.exterior, *polygon.interiors):
            q = np.round(np.asarray(ring.coords)[:-1]).astype(np.int64)
            keep = np.ones(len(q), dtype=bool)
            keep[1:] = np.any(np.diff(q, axis=0) != 0, axis=1)
            q = q[keep]
            if len(q) < 3:
                continue
            moves = " ".join(f"{dx} {dy}" for dx, dy in np.diff(q, axis=0).tolist())
            parts.append(f"M{q[0][0]} {q[0][1]}l{moves}z".replace(" -", "-"))
    return "".join(parts)


def label_point(geometry: shapely.Geometry) -> list[int]:
    """Where a name fits: the pole of inaccessibility of the largest part."""
    largest = max(shapely.get_parts(geometry), key=lambda p: p.area)
    centre = shapely.maximum_inscribed_circle(largest, 1.0)
    x, y = shapely.get_coordinates(centre)[0]
    return [round(x), round(y)]


def project(geometry: shapely.Geometry) -> shapely.Geometry:
    def forward(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        return UKRAINE.forward(coords)

    return shapely.transform(geometry, forward)


def group_of(tree: RegionTree, level: Level) -> Callable[[RegionId], RegionId]:
    """The region at `level` (or the leaf itself when it is coarser) that holds a leaf."""

    def find(rid: RegionId) -> RegionId:
        order = list(Level)
        for candidate in (rid, *tree.ancestors(rid)):
            if order.index(tree.get(candidate).level) <= order.index(level):
                return candidate
        return rid

    return find


def map_layer(
    tree: RegionTree,
    projected: list[tuple[RegionId, shapely.Geometry]],
    level: Level,
    view_box: list[float],
) -> dict[str, Any]:
    find = group_of(tree, level)
    groups: dict[RegionId, list[shapely.Geometry]] = defaultdict(list)
    for rid, geometry in projected:
        groups[find(rid)].append(geometry)
    ids = sorted(groups)
    dissolved = [shapely.coverage_union_all(groups[r]) for r in ids]
    simplified = shapely.coverage_simplify(np.array(dissolved, dtype=object), MAP_TOLERANCE[level])
    shapes = []
    for rid, full, simple in zip(ids, dissolved, simplified, strict=True):
        minx, miny, maxx, maxy = shapely.bounds(simple)
        shapes.append(
            {
                "id": rid,
                "level": tree.get(rid).level.value,
                "d": svg_path(simple),
                "label": label_point(full),
                "box": [math.floor(minx), math.floor(miny), math.ceil(maxx), math.ceil(maxy)],
            }
        )
    x, y = UKRAINE.point(*SEVASTOPOL_CENTRE)
    return {
        "format": LAYER_FORMAT,
        "level": level.value,
        "view_box": view_box,
        "projection": UKRAINE.describe(),
        "tolerance": MAP_TOLERANCE[level],
        "attribution": "© OpenStreetMap contributors (ODbL)",
        "shapes": shapes,
        # regions with no boundary to draw, shown as a point
        "markers": [{"id": SEVASTOPOL, "x": round(x), "y": round(y)}],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--target", type=Path, default=TARGET)
    args = parser.parse_args()
    started = time.monotonic()
    tree = region_tree()

    leaves = leaf_cells(args.source, tree)
    cells = locate_cells(leaves)
    vertices = sum(int(shapely.get_num_coordinates(c.geometry)) for c in cells)
    data = cellfile.dumps(cells, "OpenStreetMap via github.com/darmat1/ukraine-geo-data (ODbL)")
    (args.target / "locate-cells.json.gz").write_bytes(data)
    log(f"locate-cells.json.gz: {len(cells)} cells, {vertices} vertices, {len(data) // 1024} KiB")

    projected = [(rid, project(g)) for rid, _, g in leaves]
    minx, miny, maxx, maxy = shapely.total_bounds([g for _, g in projected])
    view_box = [
        math.floor(minx - MAP_MARGIN),
        math.floor(miny - MAP_MARGIN),
        math.ceil(maxx - minx + 2 * MAP_MARGIN),
        math.ceil(maxy - miny + 2 * MAP_MARGIN),
    ]
    for level in (Level.OBLAST, Level.RAION, Level.HROMADA):
        layer = map_layer(tree, projected, level, view_box)
        body = orjson.dumps(layer, option=orjson.OPT_APPEND_NEWLINE)
        (args.target / f"map-{level.value}.json").write_bytes(body)
        log(f"map-{level.value}.json: {len(layer['shapes'])} shapes, {len(body) // 1024} KiB")
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
