"""Which hromada, raion and oblast hold a point: an STRtree over cells that tile the country."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import shapely

from tryvoha.domain.regions import Level, Region, RegionTree
from tryvoha.geo.cells import Cell, CellKind


@dataclass(frozen=True, slots=True)
class Location:
    oblast: Region
    raion: Region | None
    hromada: Region | None
    # True when the place has no published boundary and the answer comes from an area
    # drawn around it (Sevastopol); say so to the person asking.
    approximate: bool

    @property
    def most_specific(self) -> Region:
        return self.hromada or self.raion or self.oblast


class Locator:
    def __init__(self, cells: Iterable[Cell], tree: RegionTree) -> None:
        self._cells = list(cells)
        self._tree = tree
        for cell in self._cells:
            tree.get(cell.region_id)  # every cell names a known region
        self._index = shapely.STRtree([c.geometry for c in self._cells])
        for cell in self._cells:
            shapely.prepare(cell.geometry)

    def __len__(self) -> int:
        return len(self._cells)

    def locate(self, lon: float, lat: float) -> Location | None:
        """None when the point is in no cell: outside the country."""
        point = shapely.Point(lon, lat)
        hits = sorted(int(i) for i in self._index.query(point, predicate="intersects"))
        if not hits:
            return None
        # A point on a shared border touches two cells; a surveyed boundary beats an
        # approximate one, then the first in the file, so the answer is stable.
        best = min(hits, key=lambda i: (self._cells[i].kind is CellKind.APPROXIMATE, i))
        cell = self._cells[best]
        return self._location(self._tree.get(cell.region_id), cell.kind is CellKind.APPROXIMATE)

    def _location(self, region: Region, approximate: bool) -> Location:
        found: dict[Level, Region] = {}
        for rid in (region.id, *self._tree.ancestors(region.id)):
            above = self._tree.get(rid)
            found.setdefault(above.level, above)
        return Location(
            oblast=found[Level.OBLAST],
            raion=found.get(Level.RAION),
            hromada=found.get(Level.HROMADA),
            approximate=approximate,
        )


_loading = threading.Lock()


@cache
def _load() -> Locator:
    from tryvoha.data import region_tree
    from tryvoha.geo.layers import locate_cells

    return Locator(locate_cells(), region_tree())


def _locator() -> Locator:
    with _loading:  # one load, however many ask while it runs
        return _load()


async def shared_locator() -> Locator:
    """The country's locator, loaded on first use (about a second, off the event loop),
    then kept for the life of the process: /api/v1/locate and the Telegram bot share it."""
    if _load.cache_info().currsize:
        return _load()
    return await asyncio.to_thread(_locator)
