"""Alert lifecycles as a state machine: random declares, updates and clears by an issuer
whose scope changes as it goes, against a simple model; a write outside the scope is
refused whole and changes nothing; the projection, a replay of the log and the effective
state all agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tryvoha.data import region_tree
from tryvoha.domain.alerts import AlertId, AlertLevel, ThreatType
from tryvoha.domain.commands import (
    ClearAlert,
    ClearRegion,
    Command,
    Declare,
    Update,
    decide,
    touched_regions,
)
from tryvoha.domain.errors import DomainError, OutOfScopeError
from tryvoha.domain.events import Event, Seq
from tryvoha.domain.projection import Projection, RegionState
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Principal, Role, check_scope

TREE = region_tree()
LVIV = RegionId("UA46000000000026241")
RAION = TREE.children(LVIV)[0]
HROMADAS = TREE.children(RAION)[:2]
REGIONS = [LVIV, RAION, *HROMADAS, RegionId("UA80000000000093317")]
PROBES = [*REGIONS, RegionId("UA"), TREE.children(LVIV)[1]]
THREATS = [ThreatType.AIR_RAID, ThreatType.ARTILLERY_SHELLING]
SCOPES = [
    (RegionId("UA"),),
    (LVIV,),
    (RAION,),
    (HROMADAS[0],),
    (RegionId("UA80000000000093317"),),
    (RAION, RegionId("UA80000000000093317")),
]


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.projection = Projection()
        self.log: list[Event] = []
        self.model: dict[tuple[RegionId, ThreatType], AlertLevel] = {}
        self.now = datetime(2024, 11, 13, tzinfo=UTC)
        self.counter = 0
        self.scope: tuple[RegionId, ...] = (RegionId("UA"),)

    def _new_id(self) -> AlertId:
        self.counter += 1
        return AlertId(f"a{self.counter}")

    def _allowed(self, command: Command) -> bool:
        """The model's scope rule: every region the command acts on lies in the scope."""
        touched = touched_regions(command, self.projection)
        return all(any(TREE.is_within(r, s) for s in self.scope) for r in touched)

    def _run(self, command: Command) -> bool:
        """Carry it out as the issuer; False when nothing could be done. A command outside
        the scope is refused (OutOfScopeError, exactly when the model says) and writes
        nothing."""
        self.now += timedelta(seconds=7)
        principal = Principal("t", Role.ISSUER, self.scope)
        try:
            check_scope(TREE, principal, touched_regions(command, self.projection))
        except OutOfScopeError:
            assert not self._allowed(command)
            return False
        assert self._allowed(command)
        try:
            decision = decide(
                command, self.projection, TREE, now=self.now, issuer="t", new_id=self._new_id
            )
        except DomainError:
            return False
        for pending in decision.events:
            event = Event.committed(Seq(self.projection.seq + 1), pending)
            self.projection.apply(event)
            self.log.append(event)
        return True

    @rule(
        regions=st.lists(st.sampled_from(REGIONS), min_size=1, max_size=3),
        threat=st.sampled_from(THREATS),
        level=st.sampled_from(list(AlertLevel)),
    )
    def declare(self, regions: list[RegionId], threat: ThreatType, level: AlertLevel) -> None:
        command = Declare(tuple(regions), threat, level)
        allowed = self._allowed(command)
        assert self._run(command) == allowed
        if not allowed:
            return
        for region in regions:
            current = self.model.get((region, threat))
            if current is None or level.outranks(current):
                self.model[(region, threat)] = level

    @rule(data=st.data())
    def clear_one(self, data: st.DataObject) -> None:
        active = self.projection.active()
        if not active:
            assert not self._run(ClearAlert(AlertId("nope")))
            return
        alert = data.draw(st.sampled_from(active))
        command = ClearAlert(alert.id)
        allowed = self._allowed(command)
        assert self._run(command) == allowed
        if allowed:
            del self.model[(alert.region_id, alert.threat)]

    @rule(region=st.sampled_from(REGIONS), threat=st.one_of(st.none(), st.sampled_from(THREATS)))
    def clear_region(self, region: RegionId, threat: ThreatType | None) -> None:
        doomed = [k for k in self.model if TREE.is_within(k[0], region) and threat in (None, k[1])]
        command = ClearRegion(region, threat)
        allowed = self._allowed(command)
        assert self._run(command) == (bool(doomed) and allowed)
        if allowed:
            for key in doomed:
                del self.model[key]

    @rule(data=st.data(), level=st.sampled_from(list(AlertLevel)))
    def update(self, data: st.DataObject, level: AlertLevel) -> None:
        active = self.projection.active()
        if active:
            alert = data.draw(st.sampled_from(active))
            command = Update(alert.id, level=level)
            allowed = self._allowed(command)
            assert self._run(command) == allowed
            if allowed:
                self.model[(alert.region_id, alert.threat)] = level

    @rule(scope=st.sampled_from(SCOPES))
    def rescope(self, scope: tuple[RegionId, ...]) -> None:
        """The issuer's jurisdiction changes (a new token for the same desk)."""
        self.scope = scope

    @invariant()
    def projection_matches_model(self) -> None:
        assert {(a.region_id, a.threat): a.level for a in self.projection.active()} == self.model

    @invariant()
    def replay_gives_the_same_state(self) -> None:
        replayed = Projection()
        for event in self.log:
            replayed.apply(event)
        assert replayed.active() == self.projection.active() and replayed.seq == self.projection.seq

    @invariant()
    def effective_state_matches_its_definition(self) -> None:
        states = self.projection.states(TREE)
        for region in PROBES:
            for threat in THREATS:
                covered = any((r, threat) in self.model for r in (region, *TREE.ancestors(region)))
                below = any(t is threat and r in TREE.descendants(region) for r, t in self.model)
                expected = (
                    RegionState.ALERT
                    if covered
                    else RegionState.PARTIAL
                    if below
                    else RegionState.CLEAR
                )
                assert self.projection.state_of(TREE, region, threat) is expected
                assert states.get(region, {}).get(threat, RegionState.CLEAR) is expected


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
