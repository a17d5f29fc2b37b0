"""The shipped map layers: every region's outline as SVG path data, projected and
simplified once by tools/build_boundaries.py, one file per level."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson

from tryvoha.domain.regions import Level, RegionId
from tryvoha.geo import cells

LAYER_FORMAT = 1
MAP_LEVELS = (Level.OBLAST, Level.RAION, Level.HROMADA)
PACKAGE = "tryvoha.data.boundaries"


@dataclass(frozen=True, slots=True)
class Shape:
    id: RegionId
    level: Level  # the region's own level: a hromada layer also holds Kyiv and raion parts
    d: str  # SVG path data in map units
    label: tuple[int, int]  # where its name fits
    box: tuple[int, int, int, int]  # min x, min y, max x, max y


@dataclass(frozen=True, slots=True)
class Marker:
    """A region with no boundary to draw, shown as a point."""

    id: RegionId
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class MapLayer:
    level: Level
    view_box: tuple[int, int, int, int]  # x, y, width, height
    projection: dict[str, Any]
    attribution: str
    shapes: tuple[Shape, ...]
    markers: tuple[Marker, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "view_box": self.view_box,
            "projection": self.projection,
            "attribution": self.attribution,
            "shapes": [
                {"id": s.id, "level": s.level.value, "d": s.d, "label": s.label, "box": s.box}
                for s in self.shapes
            ],
            "markers": [{"id": m.id, "x": m.x, "y": m.y} for m in self.markers],
        }


def parse_layer(data: bytes) -> MapLayer:
    doc = orjson.loads(data)
    if doc.get("format") != LAYER_FORMAT:
        raise ValueError(f"map layer: format {doc.get('format')} is not {LAYER_FORMAT}")
    return MapLayer(
        level=Level(doc["level"]),
        view_box=tuple(doc["view_box"]),
        projection=doc["projection"],
        attribution=doc["attribution"],
        shapes=tuple(
            Shape(
                RegionId(s["id"]),
                Level(s["level"]),
                s["d"],
                (s["label"][0], s["label"][1]),
                tuple(s["box"]),
            )
            for s in doc["shapes"]
        ),
        markers=tuple(Marker(RegionId(m["id"]), m["x"], m["y"]) for m in doc["markers"]),
    )


def read_data(name: str) -> bytes:
    return resources.files(PACKAGE).joinpath(name).read_bytes()


@cache
def map_layer(level: Level) -> MapLayer:
    if level not in MAP_LEVELS:
        raise ValueError(f"no map layer for level {level}")
    return parse_layer(read_data(f"map-{level.value}.json"))


def locate_cells() -> list[cells.Cell]:
    return list(cells.loads(read_data("locate-cells.json.gz")))
