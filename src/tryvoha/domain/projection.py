"""Current state, derived from the event log: active alerts and effective region state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tryvoha.domain.alerts import Alert, AlertId, ThreatType
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.regions import RegionId, RegionTree


class ProjectionError(Exception):
    """An event that does not fit the state: the log is out of order or corrupt."""


class RegionState(StrEnum):
    ALERT = "alert"  # the region or an ancestor has an active alert
    PARTIAL = "partial"  # not under alert itself, but some descendant is
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Bearings:
    """Every region that is not clear: its effective state per threat type, and the active
    alerts behind it: `over` a region are those on it or above it (they put it under
    alert), `under` it those below it (they put it in part under alert, for their threat
    type, where no alert is over it)."""

    states: dict[RegionId, dict[ThreatType, RegionState]]
    over: dict[RegionId, list[Alert]]
    under: dict[RegionId, list[Alert]]


class Projection:
    """The active alerts after applying every event up to `seq`, in order."""

    def __init__(self, seq: Seq = Seq(0), active: Iterable[Alert] = ()) -> None:
        self.seq = seq
        self._active: dict[AlertId, Alert] = {}
        self._by_key: dict[tuple[RegionId, ThreatType], AlertId] = {}
        for alert in active:
            self._put(alert)

    def _put(self, alert: Alert) -> None:
        self._active[alert.id] = alert
        self._by_key[(alert.region_id, alert.threat)] = alert.id

    def apply(self, event: Event) -> None:
        if event.seq <= self.seq:
            raise ProjectionError(f"event {event.seq} is not after {self.seq}")
        alert = event.alert
        if event.type is EventType.DECLARED:
            existing = self._by_key.get((alert.region_id, alert.threat))
            if existing is not None:
                raise ProjectionError(
                    f"event {event.seq} declares {alert.region_id}/{alert.threat} "
                    f"while alert {existing} is active"
                )
            self._put(alert)
        elif event.type is EventType.UPDATED:
            if alert.id not in self._active:
                raise ProjectionError(f"event {event.seq} updates inactive alert {alert.id}")
            self._put(alert)
        else:
            if self._active.pop(alert.id, None) is None:
                raise ProjectionError(f"event {event.seq} clears inactive alert {alert.id}")
            del self._by_key[(alert.region_id, alert.threat)]
        self.seq = event.seq

    def active(self) -> list[Alert]:
        """Active alerts, oldest first (ties by region id, for a stable order)."""
        return sorted(self._active.values(), key=lambda a: (a.started_at, a.region_id, a.threat))

    def get(self, alert_id: str) -> Alert | None:
        return self._active.get(AlertId(alert_id))

    def find(self, region_id: RegionId, threat: ThreatType) -> Alert | None:
        alert_id = self._by_key.get((region_id, threat))
        return None if alert_id is None else self._active[alert_id]

    def __len__(self) -> int:
        return len(self._active)

    def state_of(self, tree: RegionTree, region_id: RegionId, threat: ThreatType) -> RegionState:
        """Effective state of one region for one threat type."""
        for candidate in (region_id, *tree.ancestors(region_id)):
            if (candidate, threat) in self._by_key:
                return RegionState.ALERT
        descendants = tree.descendants(region_id)
        for other_region, other_threat in self._by_key:
            if other_threat is threat and other_region in descendants:
                return RegionState.PARTIAL
        return RegionState.CLEAR

    def states(self, tree: RegionTree) -> dict[RegionId, dict[ThreatType, RegionState]]:
        """Effective state of every region that is not clear, per threat type."""
        return self._walk(tree, None, None)

    def bearings(self, tree: RegionTree) -> Bearings:
        """The effective states, with the alerts behind each (for payloads that say which
        level, threats and start are in force on a region, as MQTT's do)."""
        over: dict[RegionId, list[Alert]] = {}
        under: dict[RegionId, list[Alert]] = {}
        return Bearings(self._walk(tree, over, under), over, under)

    def _walk(
        self,
        tree: RegionTree,
        over: dict[RegionId, list[Alert]] | None,
        under: dict[RegionId, list[Alert]] | None,
    ) -> dict[RegionId, dict[ThreatType, RegionState]]:
        """The rule of the effective state, walked once for every region: an active alert
        puts its region and every region below it under alert, every region above it in
        part (unless another alert puts that one under alert for the same threat type)."""
        out: dict[RegionId, dict[ThreatType, RegionState]] = {}
        for alert in self._active.values():
            threat = alert.threat
            for below in (alert.region_id, *tree.descendants(alert.region_id)):
                out.setdefault(below, {})[threat] = RegionState.ALERT
                if over is not None:
                    over.setdefault(below, []).append(alert)
            for above in tree.ancestors(alert.region_id):
                per_threat = out.setdefault(above, {})
                if per_threat.get(threat) is not RegionState.ALERT:
                    per_threat[threat] = RegionState.PARTIAL
                if under is not None:
                    under.setdefault(above, []).append(alert)
        return out
