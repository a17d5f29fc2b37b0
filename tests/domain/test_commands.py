from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import KHARKIV, KYIV_CITY, LVIV
from tryvoha.domain.alerts import AlertId, AlertLevel, Message, ThreatKind, ThreatType
from tryvoha.domain.commands import (
    ClearAlert,
    ClearRegion,
    Command,
    Decision,
    Declare,
    ThreatSpec,
    Update,
    decide,
)
from tryvoha.domain.errors import NothingActiveError, RegionNotDeclarableError, UnknownAlertError
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.projection import Projection, ProjectionError, RegionState
from tryvoha.domain.regions import COUNTRY, Level, RegionTree

T0 = datetime(2024, 11, 13, 5, 0, tzinfo=UTC)


def ids() -> Callable[[], AlertId]:
    counter = iter(range(1, 1_000_000))
    return lambda: AlertId(f"a{next(counter)}")


class World:
    """A projection and the log that built it, driven through the pure decisions."""

    def __init__(self, tree: RegionTree) -> None:
        self.tree = tree
        self.projection = Projection()
        self.log: list[Event] = []
        self.now = T0
        self.new_id = ids()

    def run(self, command: Command, issuer: str = "oblast") -> Decision:
        self.now += timedelta(seconds=30)
        decision = decide(
            command, self.projection, self.tree, now=self.now, issuer=issuer, new_id=self.new_id
        )
        for pending in decision.events:
            event = Event.committed(Seq(self.projection.seq + 1), pending)
            self.projection.apply(event)
            self.log.append(event)
        return decision


@pytest.fixture
def world(tree: RegionTree) -> World:
    return World(tree)


def test_declare_makes_one_alert_per_region(world: World) -> None:
    decision = world.run(
        Declare(
            (LVIV, KYIV_CITY),
            threats=(ThreatSpec(ThreatKind.BALLISTIC_MISSILES, "from the north"),),
            message=Message("Тривога", "Alert"),
        )
    )
    assert [e.type for e in decision.events] == [EventType.DECLARED, EventType.DECLARED]
    assert {a.region_id for a in world.projection.active()} == {LVIV, KYIV_CITY}
    alert = world.projection.find(LVIV, ThreatType.AIR_RAID)
    assert alert is not None and alert.level is AlertLevel.RED and alert.issuer == "oblast"
    assert (
        alert.threats[0].kind is ThreatKind.BALLISTIC_MISSILES
        and alert.threats[0].note == "from the north"
    )


def test_declaring_an_active_alert_again_writes_nothing(world: World) -> None:
    first = world.run(Declare((LVIV,))).alerts[0]
    again = world.run(Declare((LVIV,)))
    assert again.events == [] and again.alerts == [first]
    yellow_again = world.run(Declare((LVIV,), level=AlertLevel.YELLOW))
    assert yellow_again.events == [] and yellow_again.alerts[0].level is AlertLevel.RED


def test_red_declare_raises_an_active_yellow(world: World) -> None:
    yellow = world.run(Declare((LVIV,), level=AlertLevel.YELLOW)).alerts[0]
    red = world.run(Declare((LVIV,)))
    assert [e.type for e in red.events] == [EventType.UPDATED]
    assert red.alerts[0].id == yellow.id and red.alerts[0].level is AlertLevel.RED


def test_a_country_alert_is_refused(world: World) -> None:
    with pytest.raises(RegionNotDeclarableError):
        world.run(Declare((COUNTRY,)))
    assert world.log == []


def test_update_keeps_start_times_of_known_threats(world: World) -> None:
    alert = world.run(Declare((LVIV,), threats=(ThreatSpec(ThreatKind.DRONES),))).alerts[0]
    updated = world.run(
        Update(
            alert.id,
            threats=(ThreatSpec(ThreatKind.DRONES), ThreatSpec(ThreatKind.CRUISE_MISSILES)),
        )
    ).alerts[0]
    drones, cruise = updated.threats
    assert drones.started_at == alert.threats[0].started_at
    assert cruise.started_at == updated.updated_at > alert.started_at
    assert world.run(Update(alert.id, level=AlertLevel.RED)).events == []  # no change, no event
    assert world.run(Update(alert.id, message=Message(None, "Go to shelter"))).alerts[0].message
    assert world.run(Update(alert.id, clear_message=True)).alerts[0].message is None


def test_clearing_an_alert_that_is_not_active_is_refused(world: World) -> None:
    alert = world.run(Declare((LVIV,))).alerts[0]
    cleared = world.run(ClearAlert(alert.id))
    assert cleared.alerts[0].ended_at == world.now
    with pytest.raises(UnknownAlertError):
        world.run(ClearAlert(alert.id))
    with pytest.raises(NothingActiveError, match="no active alert"):
        world.run(ClearRegion(LVIV))


def test_clearing_a_region_clears_it_and_everything_below(world: World, tree: RegionTree) -> None:
    raion = tree.children(LVIV)[0]
    hromada = tree.children(raion)[0]
    world.run(Declare((hromada, raion, KHARKIV)))
    world.run(Declare((hromada,), threat=ThreatType.ARTILLERY_SHELLING))
    decision = world.run(ClearRegion(LVIV, ThreatType.AIR_RAID))
    assert {a.region_id for a in decision.alerts} == {hromada, raion}
    assert {(a.region_id, a.threat) for a in world.projection.active()} == {
        (KHARKIV, ThreatType.AIR_RAID),
        (hromada, ThreatType.ARTILLERY_SHELLING),
    }


def test_effective_state_flows_down_as_alert_and_up_as_partial(
    world: World, tree: RegionTree
) -> None:
    raion = tree.children(LVIV)[0]
    hromada = tree.children(raion)[0]
    alert = world.run(Declare((LVIV,))).alerts[0]
    p = world.projection
    assert p.state_of(tree, hromada, ThreatType.AIR_RAID) is RegionState.ALERT
    assert p.state_of(tree, raion, ThreatType.AIR_RAID) is RegionState.ALERT
    assert p.state_of(tree, COUNTRY, ThreatType.AIR_RAID) is RegionState.PARTIAL
    assert p.state_of(tree, KYIV_CITY, ThreatType.AIR_RAID) is RegionState.CLEAR
    assert p.state_of(tree, hromada, ThreatType.CHEMICAL) is RegionState.CLEAR
    states = p.states(tree)
    assert states[hromada] == {ThreatType.AIR_RAID: RegionState.ALERT}
    assert states[COUNTRY] == {ThreatType.AIR_RAID: RegionState.PARTIAL}
    assert KYIV_CITY not in states
    world.run(ClearAlert(alert.id))
    assert world.projection.states(tree) == {}
    assert world.projection.state_of(tree, hromada, ThreatType.AIR_RAID) is RegionState.CLEAR


def test_a_hromada_alert_makes_its_oblast_partial(world: World, tree: RegionTree) -> None:
    hromada = next(r.id for r in tree.at_level(Level.HROMADA) if tree.oblast_of(r.id) == LVIV)
    world.run(Declare((hromada,)))
    assert world.projection.state_of(tree, LVIV, ThreatType.AIR_RAID) is RegionState.PARTIAL
    assert world.projection.state_of(tree, hromada, ThreatType.AIR_RAID) is RegionState.ALERT


def test_projection_refuses_an_out_of_order_or_impossible_log(world: World) -> None:
    world.run(Declare((LVIV,)))
    declared = world.log[0]
    with pytest.raises(ProjectionError):
        world.projection.apply(declared)  # seq not after the current one
    with pytest.raises(ProjectionError):
        world.projection.apply(Event(Seq(5), EventType.DECLARED, T0, "x", declared.alert))
