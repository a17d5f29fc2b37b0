"""The event log's entries. Current state, history and statistics are all derived from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NewType

from tryvoha.domain.alerts import Alert

Seq = NewType("Seq", int)

# Issuers of events imported from the historical record ("history:official", ...). They
# are in the log like any event, but live streams leave them out unless asked: a siren
# must not sound for a 2022 alert because its record was imported today.
HISTORY_ISSUER_PREFIX = "history:"


def is_historical(issuer: str) -> bool:
    return issuer.startswith(HISTORY_ISSUER_PREFIX)


# Issuers whose alerts mean "some alert was active somewhere in this region", not an alert
# on the whole of it: the consolidated record ("history:consolidated") and replays of it
# ("demo:consolidated", as `tryvoha demo` names itself on such a day). Pages draw them as
# they draw an alert in part of a region, never as a region-wide alert.
CONSOLIDATED_SUFFIX = ":consolidated"


def is_consolidated(issuer: str) -> bool:
    return issuer.endswith(CONSOLIDATED_SUFFIX)


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
