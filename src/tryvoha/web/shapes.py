"""The map as its first frame draws it: every oblast-level shape, coloured, named."""

from __future__ import annotations

from dataclasses import dataclass

from tryvoha.domain.regions import Level, RegionId
from tryvoha.geo.layers import map_layer
from tryvoha.web.names import region_names
from tryvoha.web.present import Colouring, ShapeState


@dataclass(frozen=True, slots=True)
class ShapeView:
    id: RegionId
    d: str
    label: tuple[int, int]
    state: ShapeState
    name: str
    short: str


@dataclass(frozen=True, slots=True)
class MarkerView:
    id: RegionId
    x: int
    y: int
    state: ShapeState
    name: str


@dataclass(frozen=True, slots=True)
class MapView:
    view_box: tuple[int, int, int, int]
    shapes: list[ShapeView]
    markers: list[MarkerView]


def map_view(colouring: Colouring, lang: str) -> MapView:
    names = region_names()
    layer = map_layer(Level.OBLAST)
    return MapView(
        view_box=layer.view_box,
        shapes=[
            ShapeView(
                s.id,
                s.d,
                s.label,
                colouring.of(s.id),
                names[s.id].full(lang),
                names[s.id].short(lang),
            )
            for s in layer.shapes
        ],
        markers=[
            MarkerView(m.id, m.x, m.y, colouring.of(m.id), names[m.id].full(lang))
            for m in layer.markers
        ],
    )
