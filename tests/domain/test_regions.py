from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import KYIV_CITY, LVIV
from tryvoha.data import region_tree
from tryvoha.domain.errors import UnknownRegionError
from tryvoha.domain.regions import COUNTRY, Level, RegionId, RegionTree, normalise_name


def test_the_whole_tree_of_ukraine(tree: RegionTree) -> None:
    counts = {level: len(tree.at_level(level)) for level in Level}
    assert counts == {Level.COUNTRY: 1, Level.OBLAST: 27, Level.RAION: 136, Level.HROMADA: 1772}
    assert tree.get("UA").parent_id is None
    for region in tree:
        if region.level is Level.OBLAST:
            assert region.parent_id == COUNTRY
        elif region.level is Level.RAION:
            assert tree.get(region.parent_id or "").level is Level.OBLAST
        elif region.level is Level.HROMADA:
            assert tree.get(region.parent_id or "").level is Level.RAION


def test_kyiv_and_sevastopol_are_oblast_level(tree: RegionTree) -> None:
    assert tree.get(KYIV_CITY).level is Level.OBLAST
    assert tree.get(KYIV_CITY).name_uk == "м. Київ"
    assert tree.get("UA85000000000065278").level is Level.OBLAST  # Sevastopol
    assert tree.get("UA01000000000013043").name_en == "Avtonomna Respublika Krym"


def test_ancestors_descendants_and_containment(tree: RegionTree) -> None:
    hromada = RegionId("UA46060250000025047")  # Lvivska hromada, Lvivskyi raion
    raion = tree.get(hromada).parent_id
    assert tree.ancestors(hromada) == (raion, LVIV, COUNTRY)
    assert hromada in tree.descendants(LVIV)
    assert tree.is_within(hromada, LVIV) and not tree.is_within(LVIV, hromada)
    assert tree.related(LVIV, hromada) and tree.related(hromada, LVIV)
    assert not tree.related(LVIV, KYIV_CITY)
    assert tree.oblast_of(hromada) == LVIV
    assert len(tree.descendants(COUNTRY)) == len(tree) - 1


@pytest.mark.parametrize(
    "query", ["Lviv", "lviv", "Львівська", "Львівська область", "Lvivska oblast", LVIV]
)
def test_names_people_type_resolve_to_the_oblast(tree: RegionTree, query: str) -> None:
    assert tree.resolve(query).id == LVIV


def test_unknown_and_ambiguous_names_are_errors(tree: RegionTree) -> None:
    with pytest.raises(UnknownRegionError, match="no region"):
        tree.resolve("Atlantis")
    # "Петрівська" names hromadas in several oblasts
    with pytest.raises(UnknownRegionError, match="names several regions"):
        tree.resolve("Петрівська")


def test_normalise_ignores_case_apostrophes_and_hyphens() -> None:
    assert normalise_name("Івано-Франківська") == normalise_name("івано франківська")
    assert normalise_name("Кам’янець") == normalise_name("Камʼянець") == normalise_name("Кам'янець")


_TREE = region_tree()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_related_mask_matches_exactly_the_related_regions(data: st.DataObject) -> None:
    """The bit set a stream filter is compiled to says what `related` says, region by region."""
    tree = _TREE
    ids = sorted(r.id for r in tree)
    chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=4))
    event_region = data.draw(st.sampled_from(ids))
    mask = tree.related_mask(chosen)
    expected = any(tree.related(event_region, r) for r in chosen)
    assert bool(mask & tree.bit(event_region)) == expected
