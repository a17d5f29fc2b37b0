"""Pre-encoded answers to the hot GETs, rebuilt at most once per seq.

The body of /alerts/active and /state is a function of the seq alone, so every process
at the same seq sends the same bytes under the same strong ETag.
"""

from __future__ import annotations

import orjson

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.regions import RegionTree
from tryvoha.engine.feed import Feed
from tryvoha.protocol.wire import alert_to_json
from tryvoha.server.answers import STATIC_MAX_AGE, Cached


class Views:
    def __init__(self, feed: Feed, tree: RegionTree, epoch: str) -> None:
        self.feed = feed
        self.tree = tree
        self.epoch = epoch  # in every ETag: a replaced store never matches an old one
        self._active: Cached | None = None
        self._state: Cached | None = None
        self.regions = self._regions()

    def active(self) -> Cached:
        seq = self.feed.seq
        cached = self._active
        if cached is None or cached.seq != seq:
            alerts = [alert_to_json(a) for a in self.feed.projection.active()]
            cached = self._active = Cached(
                seq, orjson.dumps({"seq": seq, "alerts": alerts}), f'"a{self.epoch}.{seq}"'
            )
        return cached

    def state(self) -> Cached:
        seq = self.feed.seq
        cached = self._state
        if cached is None or cached.seq != seq:
            states = self.feed.projection.states(self.tree)
            regions = {
                rid: {threat.value: st.value for threat, st in sorted(per.items())}
                for rid, per in sorted(states.items())
            }
            cached = self._state = Cached(
                seq, orjson.dumps({"seq": seq, "regions": regions}), f'"s{self.epoch}.{seq}"'
            )
        return cached

    def region_state(self, region_id: str) -> dict[str, str]:
        projection = self.feed.projection
        region = self.tree.get(region_id)
        return {t.value: projection.state_of(self.tree, region.id, t).value for t in ThreatType}

    def _regions(self) -> Cached:
        regions = [
            {
                "id": r.id,
                "level": r.level.value,
                "parent_id": r.parent_id,
                "name_uk": r.name_uk,
                "name_en": r.name_en,
            }
            for r in self.tree
        ]
        body = orjson.dumps({"regions": regions})
        return Cached(0, body, f'"r{len(body)}"', STATIC_MAX_AGE)
