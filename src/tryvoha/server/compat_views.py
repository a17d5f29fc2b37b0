"""The compatible APIs' answers, each built at most once per seq.

LED maps and Home Assistant poll the IoT strings and a region's alerts every few
seconds; like /api/v1/alerts/active (server/views.py), each answer here is a function of
the seq alone, encoded once and then sent as the same bytes to every poller. Each value
also carries `changed_at`, when the state last changed (a live event; an imported
historical one changes no current state), from which Last-Modified and
If-Modified-Since are answered (protocol/compat_alerts_in_ua.py).

Each view is a method taking only what its URL names, so the HTTP front can serve it
from its route table as it serves the hot views of API v1.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import orjson

from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.engine.feed import Feed
from tryvoha.protocol import compat_alerts_in_ua as aiu
from tryvoha.protocol import compat_ukrainealarm as ua
from tryvoha.protocol.compat_locations import Location, Locations
from tryvoha.protocol.wire import parse_time
from tryvoha.server.answers import JSON_TYPE, Cached

PER_KEY = "private, no-cache"  # answers are per key; a poller asks again each time


def stamped(seq: int, body: bytes, etag: str, changed_at: datetime) -> Cached:
    """A polled answer of the compatible APIs: it carries the time of its last change,
    for Last-Modified (alerts.in.ua's clients validate by date)."""
    return Cached(seq, body, etag, PER_KEY, JSON_TYPE, changed_at)


class Changes:
    """When the state last changed, overall and per region, read from the feed's recent
    events as the seq moves (each event once)."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.seq = 0
        self.at = aiu.EPOCH
        self.by_region: dict[RegionId, datetime] = {}

    def catch_up(self) -> None:
        seq = self.feed.seq
        if seq == self.seq:
            return
        for recent in self.feed.applied_after(self.seq):
            if recent.historical:
                continue
            at = parse_time(orjson.loads(recent.raw)["at"])
            self.at = max(self.at, at)
            before = self.by_region.get(recent.region_id)
            if before is None or at > before:
                self.by_region[recent.region_id] = at
        self.seq = seq

    def of_place(self, tree: RegionTree, region_id: RegionId | None) -> datetime | None:
        """The last change to a region or to any region it lies in."""
        if region_id is None:
            return None
        times = [self.by_region.get(r) for r in (region_id, *tree.ancestors(region_id))]
        return max((t for t in times if t is not None), default=None)


class CompatViews:
    def __init__(self, feed: Feed, tree: RegionTree, locations: Locations, epoch: str) -> None:
        self.feed = feed
        self.tree = tree
        self.locations = locations
        self.epoch = epoch
        self.changes = Changes(feed)
        self.places = aiu.Places(tree, locations)
        self.index = ua.Index(tree, locations)
        self._seq = -1
        self._cache: dict[object, Cached] = {}
        self._letters: dict[int, str] = {}
        self.ua_regions = stamped(0, ua.regions_body(locations), '"ur"', aiu.EPOCH)

    def _current(self) -> int:
        seq = self.feed.seq
        if seq != self._seq:
            self.changes.catch_up()
            self._cache.clear()
            self._letters.clear()
            self._seq = seq
        return seq

    def _view(self, key: object, build: Callable[[], bytes]) -> Cached:
        seq = self._current()
        found = self._cache.get(key)
        if found is None:
            tag = "-".join(str(part) for part in key) if isinstance(key, tuple) else str(key)
            found = stamped(seq, build(), f'"c{self.epoch}.{seq}.{tag}"', self.changes.at)
            self._cache[key] = found
        return found

    def history_regions(self, loc: Location) -> frozenset[RegionId]:
        """The regions whose alerts are a place's history: those above it, it and those
        below it (an unmatched community: its district and above)."""
        own, within = self.locations.anchor(loc)
        if own is not None:
            return self.tree.lineage(own)
        if within is not None:
            return frozenset({within, *self.tree.ancestors(within)})
        return frozenset()

    @property
    def changed_at(self) -> datetime:
        self._current()
        return self.changes.at

    # -- alerts.in.ua -----------------------------------------------------------------

    def aiu_active(self) -> Cached:
        projection = self.feed.projection
        return self._view(
            "active",
            lambda: aiu.alerts_body(projection.active(), self.places, self.changes.at),
        )

    def _aiu_letters(self, version: aiu.IotVersion) -> str:
        self._current()
        letters = self._letters.get(version)
        if letters is None:
            letters = aiu.iot_letters(self.feed.projection, self.tree, self.locations, version)
            self._letters[version] = letters
        return letters

    def aiu_by_oblast(self, version: aiu.IotVersion) -> Cached:
        return self._view(
            ("oblasts", version),
            lambda: aiu.json_string(aiu.by_oblast(self._aiu_letters(version))),
        )

    def aiu_all(self, version: aiu.IotVersion) -> Cached:
        return self._view(("all", version), lambda: aiu.json_string(self._aiu_letters(version)))

    def aiu_uid(self, version: aiu.IotVersion, loc: Location) -> Cached:
        return self._view(
            ("uid", version, loc.uid),
            lambda: aiu.json_string(self._aiu_letters(version)[loc.uid]),
        )

    # -- ukrainealarm -----------------------------------------------------------------

    def ua_alerts(self) -> Cached:
        return self._view("ua", lambda: ua.alerts_body(self.index, self.feed.projection))

    def ua_status(self) -> Cached:
        return self._view("status", lambda: ua.status_body(self.feed.seq))

    def ua_region(self, loc: Location) -> Cached:
        def build() -> bytes:
            quiet = self.changes.of_place(self.tree, self.locations.anchor(loc)[1])
            return ua.region_body(self.index, self.feed.projection, loc, quiet)

        return self._view(("region", loc.uid), build)
