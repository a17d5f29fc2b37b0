"""The shipped boundaries: projection, "where am I", and map layers that agree with the tree."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import KYIV_CITY, LVIV
from tryvoha.domain.regions import Level, RegionId, RegionTree
from tryvoha.geo import cells
from tryvoha.geo.layers import MAP_LEVELS, locate_cells, map_layer
from tryvoha.geo.locate import Locator
from tryvoha.geo.projection import UKRAINE

SEVASTOPOL = RegionId("UA85000000000065278")


@pytest.fixture(scope="module")
def locator(tree: RegionTree) -> Locator:
    return Locator(locate_cells(), tree)


def test_projection_round_trips_and_keeps_the_country_in_view() -> None:
    points = np.array([[22.14, 48.4], [40.22, 49.6], [33.5, 44.4], [30.5, 52.37], [31.2, 48.4]])
    xy = UKRAINE.forward(points)
    assert np.allclose(UKRAINE.inverse(xy), points, atol=1e-9)
    assert xy[4] == pytest.approx([0, 0], abs=1e-6)  # the origin
    assert xy[1][0] > xy[0][0] and xy[3][1] < xy[2][1]  # east is right, north is up
    box = map_layer(Level.OBLAST).view_box
    assert all(box[0] < x < box[0] + box[2] and box[1] < y < box[1] + box[3] for x, y in xy[:4])


def test_projection_is_equal_area() -> None:
    # one square degree's area, measured on the map, against the sphere's formula
    for lat in (45.0, 48.5, 52.0):
        corners = np.array([[30.0, lat], [31.0, lat], [31.0, lat + 1], [30.0, lat + 1]])
        x, y = UKRAINE.forward(corners).T
        area_km2 = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 100
        r = 6371.0088
        expected = r * r * np.radians(1) * (np.sin(np.radians(lat + 1)) - np.sin(np.radians(lat)))
        assert area_km2 == pytest.approx(expected, rel=1e-3)


def test_cell_codec_round_trips_to_a_metre() -> None:
    import shapely

    polygon = shapely.Polygon(
        [(24.0, 49.8), (24.1, 49.8), (24.1, 49.9)],
        [[(24.07, 49.81), (24.09, 49.81), (24.09, 49.83)]],
    )
    back = cells.decode_geometry(cells.encode_geometry(polygon))
    assert back.equals_exact(polygon, tolerance=cells.QUANTUM)


def test_lviv_city_is_in_its_hromada_raion_and_oblast(locator: Locator) -> None:
    found = locator.locate(24.0316, 49.8419)  # Rynok Square
    assert found is not None
    assert found.oblast.id == LVIV
    assert found.raion is not None and found.raion.name_en == "Lvivskyi raion"
    assert found.hromada is not None and found.hromada.name_en.startswith("Lvivska")
    assert not found.approximate


def test_kyiv_is_its_own_oblast_level_unit(locator: Locator) -> None:
    found = locator.locate(30.5234, 50.4501)
    assert found is not None and found.oblast.id == KYIV_CITY
    assert found.raion is None and found.hromada is None


@pytest.mark.parametrize(("lon", "lat"), [(31.5, 43.5), (21.0, 52.23), (37.6, 55.75), (28.8, 47.0)])
def test_points_outside_the_country_are_nowhere(locator: Locator, lon: float, lat: float) -> None:
    assert locator.locate(lon, lat) is None  # the Black Sea, Warsaw, Moscow, Chisinau


def test_sevastopol_has_no_boundary_and_is_answered_approximately(locator: Locator) -> None:
    found = locator.locate(33.5254, 44.6167)
    assert found is not None and found.oblast.id == SEVASTOPOL and found.approximate


def test_land_without_a_hromada_is_answered_by_its_raion(locator: Locator) -> None:
    found = locator.locate(30.22, 51.27)  # Chornobyl, in the exclusion zone
    assert found is not None and found.hromada is None
    assert found.raion is not None and found.raion.name_en == "Vyshhorodskyi raion"


def test_layers_draw_every_region_that_has_a_boundary(tree: RegionTree) -> None:
    drawn = {level: {s.id for s in map_layer(level).shapes} for level in MAP_LEVELS}
    oblasts = {r.id for r in tree.at_level(Level.OBLAST)}
    assert drawn[Level.OBLAST] == oblasts - {SEVASTOPOL}
    assert {m.id for m in map_layer(Level.OBLAST).markers} == {SEVASTOPOL}
    assert {r.id for r in tree.at_level(Level.RAION)} | {KYIV_CITY} == drawn[Level.RAION]
    hromadas = {s.id for s in map_layer(Level.HROMADA).shapes if s.level is Level.HROMADA}
    assert len(hromadas) == 1466  # every polygon OSM has (1,469 outside Crimea, 3 missing)
    for level in MAP_LEVELS:
        layer = map_layer(level)
        assert layer.view_box == map_layer(Level.OBLAST).view_box  # layers overlay exactly
        assert all(s.d.startswith("M") and s.d.endswith("z") for s in layer.shapes)


def test_every_cell_names_a_region_and_the_cells_do_not_overlap(tree: RegionTree) -> None:
    import shapely

    found = locate_cells()
    assert all(c.region_id in tree for c in found)
    surveyed = [c.geometry for c in found if c.kind is not cells.CellKind.APPROXIMATE]
    assert shapely.coverage_is_valid(np.array(surveyed, dtype=object))
