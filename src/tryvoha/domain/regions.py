"""The region tree: country, oblast-level units, raions and hromadas keyed by KATOTTG code."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

from tryvoha.domain.errors import UnknownRegionError

RegionId = NewType("RegionId", str)

COUNTRY = RegionId("UA")


class Level(StrEnum):
    COUNTRY = "country"
    OBLAST = "oblast"
    RAION = "raion"
    HROMADA = "hromada"


@dataclass(frozen=True, slots=True)
class Region:
    id: RegionId
    level: Level
    parent_id: RegionId | None
    name_uk: str
    name_en: str
    # Names people type: the codifier's short forms and, for oblasts, the common English name.
    aliases: tuple[str, ...] = field(default=(), compare=False)


_PUNCT = re.compile(r"[\s'’ʼ`\".,()-]+")


def normalise_name(text: str) -> str:
    """Lower-case, drop apostrophes, punctuation and white space: "Івано-Франківськ" matches."""
    return _PUNCT.sub("", text.casefold())


class RegionTree:
    """An immutable tree of regions with O(1) parent, ancestor and child lookups."""

    def __init__(self, regions: Iterable[Region]) -> None:
        self._by_id: dict[RegionId, Region] = {}
        self._children: dict[RegionId, list[RegionId]] = {}
        for region in regions:
            self._by_id[region.id] = region
            self._children.setdefault(region.id, [])
        for region in self._by_id.values():
            if region.parent_id is not None:
                if region.parent_id not in self._by_id:
                    raise ValueError(f"region {region.id} names unknown parent {region.parent_id}")
                self._children[region.parent_id].append(region.id)
        self._ancestors: dict[RegionId, tuple[RegionId, ...]] = {}
        for region_id in self._by_id:
            chain: list[RegionId] = []
            parent = self._by_id[region_id].parent_id
            while parent is not None:
                chain.append(parent)
                parent = self._by_id[parent].parent_id
            self._ancestors[region_id] = tuple(chain)
        self._descendants: dict[RegionId, frozenset[RegionId]] = {}
        self._names = self._index_names()
        self._bits = {region_id: 1 << i for i, region_id in enumerate(self._by_id)}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Region]:
        return iter(self._by_id.values())

    def __contains__(self, region_id: object) -> bool:
        return region_id in self._by_id

    def get(self, region_id: str) -> Region:
        try:
            return self._by_id[RegionId(region_id)]
        except KeyError:
            raise UnknownRegionError(region_id) from None

    def children(self, region_id: RegionId) -> list[RegionId]:
        return self._children[region_id]

    def ancestors(self, region_id: RegionId) -> tuple[RegionId, ...]:
        """Parent first, the country last."""
        return self._ancestors[region_id]

    def descendants(self, region_id: RegionId) -> frozenset[RegionId]:
        """Every region below this one (not itself)."""
        cached = self._descendants.get(region_id)
        if cached is None:
            found: list[RegionId] = []
            stack = list(self._children[region_id])
            while stack:
                child = stack.pop()
                found.append(child)
                stack.extend(self._children[child])
            cached = self._descendants[region_id] = frozenset(found)
        return cached

    def is_within(self, region_id: RegionId, scope_id: RegionId) -> bool:
        """True when region_id is scope_id or lies below it."""
        return region_id == scope_id or scope_id in self._ancestors[region_id]

    def lineage(self, region_id: RegionId) -> frozenset[RegionId]:
        """The region, every region it lies in and every region below it: where an alert
        concerns this region."""
        return frozenset({region_id, *self._ancestors[region_id], *self.descendants(region_id)})

    def related(self, a: RegionId, b: RegionId) -> bool:
        """True when one of the two regions contains the other (or they are the same)."""
        return self.is_within(a, b) or self.is_within(b, a)

    def bit(self, region_id: RegionId) -> int:
        """This region's bit in a `related_mask`: one int per region, fixed for the tree."""
        return self._bits[region_id]

    def related_mask(self, region_ids: Iterable[RegionId]) -> int:
        """The regions `related` to any of these (each, its ancestors, its descendants) as
        one bit set: an event matches a filter when `mask & bit(event's region)`, one
        integer AND instead of a walk of the tree per event and filter region."""
        mask = 0
        for region_id in region_ids:
            for related in (region_id, *self._ancestors[region_id], *self.descendants(region_id)):
                mask |= self._bits[related]
        return mask

    def oblast_of(self, region_id: RegionId) -> RegionId | None:
        """The oblast-level unit that holds region_id (itself when it is one)."""
        for candidate in (region_id, *self._ancestors[region_id]):
            if self._by_id[candidate].level is Level.OBLAST:
                return candidate
        return None

    def at_level(self, level: Level) -> list[Region]:
        return [r for r in self._by_id.values() if r.level is level]

    def _index_names(self) -> dict[str, list[RegionId]]:
        names: dict[str, list[RegionId]] = {}
        for region in self._by_id.values():
            keys = {normalise_name(n) for n in (region.name_uk, region.name_en, *region.aliases)}
            for key in keys:
                if key:
                    names.setdefault(key, []).append(region.id)
        return names

    def find(self, query: str) -> list[Region]:
        """Regions whose id, name or alias matches query; the highest level first.

        "Lviv", "Львівська" and "Lvivska oblast" all name the oblast; where the same word
        names regions at several levels (the Lviv oblast and the Lviv hromada are both
        "Львівська"), the one at the highest level wins, as a person typing it means.
        """
        if query in self._by_id:
            return [self._by_id[RegionId(query)]]
        ids = self._names.get(normalise_name(query), [])
        found = [self._by_id[i] for i in ids]
        if not found:
            return []
        order = list(Level)
        top = min(order.index(r.level) for r in found)
        return [r for r in found if order.index(r.level) == top]

    def resolve(self, query: str) -> Region:
        """The one region a person means by an id or a unique name, else UnknownRegionError."""
        found = self.find(query)
        if len(found) == 1:
            return found[0]
        if not found:
            raise UnknownRegionError(query)
        names = ", ".join(f"{r.name_en} ({r.id})" for r in found[:5])
        raise UnknownRegionError(query, f"'{query}' names several regions: {names}")
