"""Standing alerts: Luhansk oblast and Crimea, under alert without a break since 2022.

The public record leaves them out (src/tryvoha/data/standing.csv says where they come
from). A fresh store gets them once, through the engine like any declare: a token named
`standing:record`, scoped to those two regions, declares each with its real start. They
are live alerts, not history: they are active now, so streams, sirens and the map show
them (the issuer does not start with "history:"; see tryvoha.domain.events.is_historical).

"Once" means: never again after the issuer has written anything. An operator who clears
them, or revokes the token, is not overruled at the next start.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime

from tryvoha.data import open_text
from tryvoha.domain.alerts import Alert, AlertLevel, Message, ThreatType
from tryvoha.domain.commands import Declare
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.domain.scope import Principal, Role
from tryvoha.engine.auth import issue_token
from tryvoha.engine.engine import Engine
from tryvoha.protocol.wire import parse_time
from tryvoha.store.base import Store

STANDING_ISSUER = "standing:record"


@dataclass(frozen=True, slots=True)
class StandingAlert:
    region_id: RegionId
    threat: ThreatType
    started_at: datetime
    message: Message


def standing_alerts() -> list[StandingAlert]:
    with open_text("standing.csv") as f:
        return [
            StandingAlert(
                RegionId(r["region_id"]),
                ThreatType(r["threat"]),
                parse_time(r["started_at"]),
                Message(r["message_uk"], r["message_en"]),
            )
            for r in csv.DictReader(f)
        ]


async def _principal(
    store: Store, tree: RegionTree, wanted: list[StandingAlert]
) -> Principal | None:
    """The issuer's token, made on first use; None when an operator revoked it."""
    for token in await store.list_tokens():
        if token.name == STANDING_ISSUER:
            if token.revoked_at is not None:
                return None
            return Principal(token.name, token.role, tuple(token.scope))
    issued = await issue_token(
        store, tree, STANDING_ISSUER, Role.ISSUER, [a.region_id for a in wanted]
    )
    record = issued.record  # the secret is dropped: nobody signs in as the record
    return Principal(record.name, record.role, tuple(record.scope))


async def load_standing(engine: Engine, store: Store, tree: RegionTree) -> list[Alert]:
    """Declare the standing alerts unless their issuer has written before; the alerts
    declared now (none on every later start)."""
    if await store.events_by_issuer(STANDING_ISSUER, 1):
        return []
    wanted = standing_alerts()
    principal = await _principal(store, tree, wanted)
    if principal is None:
        return []
    declared: list[Alert] = []
    for standing in wanted:
        command = Declare(
            regions=(standing.region_id,),
            threat=standing.threat,
            level=AlertLevel.RED,
            message=standing.message,
            started_at=standing.started_at,
        )
        result = await engine.execute(command, principal)
        declared.extend(c.event.alert for c in result.committed)
    return declared
