"""A stretch of the record as the steps a live replay takes: pure, for `tryvoha demo`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tryvoha.domain.history import PastAlert


@dataclass(frozen=True, slots=True)
class Step:
    """What happened at one moment: alerts cleared, then alerts declared."""

    at: datetime
    clear: tuple[PastAlert, ...] = ()
    declare: tuple[PastAlert, ...] = ()


@dataclass(frozen=True, slots=True)
class Busiest:
    at: datetime
    active: int


def replay_steps(alerts: Iterable[PastAlert], start: datetime, end: datetime) -> list[Step]:
    """The steps that replay [start, end): alerts already running at `start` are declared
    in the first step; an alert still running at `end` is left active."""
    declares: dict[datetime, list[PastAlert]] = {}
    clears: dict[datetime, list[PastAlert]] = {}
    for alert in alerts:
        if alert.ended_at <= start or alert.started_at >= end:
            continue
        declares.setdefault(max(alert.started_at, start), []).append(alert)
        if alert.ended_at < end:
            clears.setdefault(alert.ended_at, []).append(alert)
    return [
        Step(
            moment,
            tuple(sorted(clears.get(moment, ()), key=lambda a: a.region_id)),
            tuple(sorted(declares.get(moment, ()), key=lambda a: a.region_id)),
        )
        for moment in sorted({*declares, *clears})
    ]


def busiest(steps: Iterable[Step]) -> Busiest | None:
    """The first moment with the most alerts active at once."""
    active = 0
    best: Busiest | None = None
    for step in steps:
        active += len(step.declare) - len(step.clear)
        if best is None or active > best.active:
            best = Busiest(step.at, active)
    return best
