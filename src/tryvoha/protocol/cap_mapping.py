"""How an alert's threat type, level and threats become CAP's urgency, severity, certainty
and responseType: one table, read by the codec and rendered into docs/cap.md.

CAP asks three separate questions. *Urgency*: when to act (Immediate: now; Expected:
within the hour; Past: no longer). *Severity*: how bad it would be (Extreme: extraordinary
threat to life; Severe: significant threat to life; Moderate: possible threat). *Certainty*:
how sure the sender is (Observed: it is happening; Likely: more than even odds; Possible:
less). A red alert means "take shelter now": Immediate and at least Severe. A yellow one
means elevated danger (a threat next door): Expected, Moderate, Possible. What is coming
sharpens the answer: a ballistic launch leaves minutes and has been seen, so it is Extreme
and Observed; a MiG-31K in the air is a Likely launch, not a seen one.

For one alert every row that matches its threat type and level applies: the base row
(no threat kind) and one row per threat kind it names. The message takes the most serious
value of each column over those rows. The end of an alert ("all clear") has its own row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tryvoha.domain.alerts import AlertLevel, ThreatKind, ThreatType


class Urgency(StrEnum):
    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Severity(StrEnum):
    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Certainty(StrEnum):
    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


class ResponseType(StrEnum):
    SHELTER = "Shelter"
    MONITOR = "Monitor"
    ALL_CLEAR = "AllClear"


@dataclass(frozen=True, slots=True)
class Row:
    threat: ThreatType | None  # None: any threat type
    level: AlertLevel | None  # None: the alert has ended (all clear)
    kind: ThreatKind | None  # None: the base row, whatever is coming
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    response: ResponseType


@dataclass(frozen=True, slots=True)
class Assessment:
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    response: ResponseType


_T, _L, _K = ThreatType, AlertLevel, ThreatKind
_U, _S, _C, _R = Urgency, Severity, Certainty, ResponseType
RED, YELLOW = _L.RED, _L.YELLOW

TABLE: tuple[Row, ...] = (
    # threat type, level, what is coming -> urgency, severity, certainty, response
    Row(_T.AIR_RAID, RED, None, _U.IMMEDIATE, _S.SEVERE, _C.LIKELY, _R.SHELTER),
    Row(_T.AIR_RAID, RED, _K.BALLISTIC_MISSILES, _U.IMMEDIATE, _S.EXTREME, _C.OBSERVED, _R.SHELTER),
    Row(
        _T.AIR_RAID, RED, _K.HYPERSONIC_MISSILES, _U.IMMEDIATE, _S.EXTREME, _C.OBSERVED, _R.SHELTER
    ),
    Row(
        _T.AIR_RAID, RED, _K.GUIDED_AERIAL_BOMBS, _U.IMMEDIATE, _S.EXTREME, _C.OBSERVED, _R.SHELTER
    ),
    Row(_T.AIR_RAID, RED, _K.CRUISE_MISSILES, _U.IMMEDIATE, _S.SEVERE, _C.OBSERVED, _R.SHELTER),
    Row(_T.AIR_RAID, RED, _K.DRONES, _U.IMMEDIATE, _S.SEVERE, _C.OBSERVED, _R.SHELTER),
    Row(_T.AIR_RAID, RED, _K.AVIATION, _U.IMMEDIATE, _S.SEVERE, _C.LIKELY, _R.SHELTER),
    Row(_T.AIR_RAID, RED, _K.MIG31K_DEPARTURE, _U.IMMEDIATE, _S.EXTREME, _C.LIKELY, _R.SHELTER),
    Row(
        _T.AIR_RAID, RED, _K.NAVAL_MISSILE_CARRIERS, _U.IMMEDIATE, _S.SEVERE, _C.LIKELY, _R.SHELTER
    ),
    Row(_T.AIR_RAID, YELLOW, None, _U.EXPECTED, _S.MODERATE, _C.POSSIBLE, _R.MONITOR),
    Row(_T.ARTILLERY_SHELLING, RED, None, _U.IMMEDIATE, _S.SEVERE, _C.OBSERVED, _R.SHELTER),
    Row(_T.ARTILLERY_SHELLING, YELLOW, None, _U.EXPECTED, _S.MODERATE, _C.POSSIBLE, _R.MONITOR),
    Row(_T.URBAN_FIGHTS, RED, None, _U.IMMEDIATE, _S.EXTREME, _C.OBSERVED, _R.SHELTER),
    Row(_T.URBAN_FIGHTS, YELLOW, None, _U.EXPECTED, _S.SEVERE, _C.POSSIBLE, _R.MONITOR),
    Row(_T.CHEMICAL, RED, None, _U.IMMEDIATE, _S.EXTREME, _C.LIKELY, _R.SHELTER),
    Row(_T.CHEMICAL, YELLOW, None, _U.EXPECTED, _S.SEVERE, _C.POSSIBLE, _R.MONITOR),
    Row(_T.NUCLEAR, RED, None, _U.IMMEDIATE, _S.EXTREME, _C.LIKELY, _R.SHELTER),
    Row(_T.NUCLEAR, YELLOW, None, _U.EXPECTED, _S.SEVERE, _C.POSSIBLE, _R.MONITOR),
    Row(None, None, None, _U.PAST, _S.MINOR, _C.OBSERVED, _R.ALL_CLEAR),
)

# Most serious first: the order in which the rows' values compete.
_URGENCY = list(Urgency)
_SEVERITY = list(Severity)
_CERTAINTY = list(Certainty)


def assess(
    threat: ThreatType, level: AlertLevel | None, kinds: Iterable[ThreatKind] = ()
) -> Assessment:
    """The values for an alert of this threat type and level (None: ended) naming these
    threat kinds. Every (threat type, level) has a base row, so this never fails."""
    wanted = {None, *kinds}
    rows = [
        r
        for r in TABLE
        if (r.level is None and level is None)
        or (level is not None and r.threat is threat and r.level is level and r.kind in wanted)
    ]
    if not rows:
        raise LookupError(f"the CAP table has no row for {threat}/{level}")
    return Assessment(
        urgency=min((r.urgency for r in rows), key=_URGENCY.index),
        severity=min((r.severity for r in rows), key=_SEVERITY.index),
        certainty=min((r.certainty for r in rows), key=_CERTAINTY.index),
        response=rows[0].response,
    )


def render_markdown() -> str:
    """The table as docs/cap.md shows it (a test keeps the two the same)."""
    lines = [
        "| threat type | level | what is coming | urgency | severity | certainty | responseType |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in TABLE:
        threat = r.threat.value if r.threat else "any"
        level = r.level.value if r.level else "ended (all clear)"
        kind = r.kind.value if r.kind else "—"
        lines.append(
            f"| {threat} | {level} | {kind} | {r.urgency} | {r.severity} | {r.certainty} | {r.response} |"
        )
    return "\n".join(lines) + "\n"
