"""The place ids of alerts.in.ua and ukrainealarm (one numbering), mapped to our regions.

Both compatible APIs name places by these ids; our alerts live on KATOTTG regions. This
index answers the two questions their codecs ask: which region does a uid name, and
which uid names a region. The table itself is data (`tryvoha/data/compat/`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from tryvoha.domain.regions import RegionId

Kind = Literal["State", "District", "Community"]


@dataclass(frozen=True, slots=True)
class Location:
    uid: int
    region_id: RegionId | None  # None: a place the table could not match to a region
    kind: Kind
    parent_uid: int | None
    ukrainealarm_name: str  # empty: ukrainealarm does not list the place
    title: str  # alerts.in.ua's location_title
    type: str  # alerts.in.ua's location_type: oblast, raion, hromada, city

    @property
    def in_ukrainealarm(self) -> bool:
        return bool(self.ukrainealarm_name)


class Locations:
    """An immutable index of the table, in its order (ukrainealarm's order of places)."""

    def __init__(self, rows: Iterable[Location]) -> None:
        self._rows = tuple(rows)
        self._by_uid = {loc.uid: loc for loc in self._rows}
        self._uid_of: dict[RegionId, int] = {}
        for loc in sorted(self._rows, key=lambda r: r.uid):
            if loc.region_id is not None:
                self._uid_of.setdefault(loc.region_id, loc.uid)  # the lowest uid of a region
        self._children: dict[int | None, list[Location]] = {}
        for loc in self._rows:
            self._children.setdefault(loc.parent_uid, []).append(loc)
        for loc in self._rows:
            if loc.parent_uid is not None and loc.parent_uid not in self._by_uid:
                raise ValueError(f"location {loc.uid} names unknown parent {loc.parent_uid}")
        self.max_uid = max(self._by_uid, default=0)

    def __iter__(self) -> Iterator[Location]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, uid: int) -> Location | None:
        return self._by_uid.get(uid)

    def parse(self, text: str) -> Location | None:
        """The location a path segment names ("16"), or None."""
        if not text.isascii() or not text.isdigit() or len(text) > 9:
            return None
        return self._by_uid.get(int(text))

    def uid_of(self, region_id: RegionId) -> int | None:
        return self._uid_of.get(region_id)

    def children(self, uid: int | None) -> list[Location]:
        """The places under uid (None: the top, the states), in the table's order."""
        return self._children.get(uid, [])

    def anchor(self, loc: Location) -> tuple[RegionId | None, RegionId | None]:
        """(the region the place is, the region it lies in): an unmatched community has
        no region of its own, but it lies in its district's."""
        if loc.region_id is not None:
            return loc.region_id, loc.region_id
        parent = self.get(loc.parent_uid) if loc.parent_uid is not None else None
        while parent is not None and parent.region_id is None:
            parent = self.get(parent.parent_uid) if parent.parent_uid is not None else None
        return None, None if parent is None else parent.region_id
