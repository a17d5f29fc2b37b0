"""The event log's entries. Current state, history and statistics are all derived from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NewType

from tryvoha.domain.alerts import Alert

Seq = NewType("Seq", int)


class EventType(StrEnum):
    DECLARED = "alert.declared"
    UPDATED = "alert.updated"
    CLEARED = "alert.cleared"


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event the domain has decided on, before the store gives it its place in the log."""

    type: EventType
    at: datetime
    issuer: str
    alert: Alert  # the alert as it is after this event


@dataclass(frozen=True, slots=True)
class Event:
    seq: Seq
    type: EventType
    at: datetime
    issuer: str
    alert: Alert

    @classmethod
    def committed(cls, seq: Seq, pending: PendingEvent) -> Event:
        return cls(seq, pending.type, pending.at, pending.issuer, pending.alert)
