"""Standing alerts (Luhansk oblast since 2022-04-04, Crimea since 2022-12-10): declared
once, through the engine, with their real starts; live alerts, not history; never again
once their issuer has written, even after an operator cleared them or revoked its token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tryvoha.data import region_tree
from tryvoha.domain.commands import ClearAlert, Declare, decide_declare
from tryvoha.domain.events import is_historical
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Principal, Role
from tryvoha.engine.engine import Engine
from tryvoha.engine.standing import STANDING_ISSUER, load_standing, standing_alerts
from tryvoha.protocol.wire import decode_event
from tryvoha.store import open_store
from tryvoha.store.base import AuditQuery, Store

pytestmark = pytest.mark.anyio
LUHANSK = RegionId("UA44000000000018893")
CRIMEA = RegionId("UA01000000000013043")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    yield s
    await s.close()


async def load(store: Store) -> tuple[Engine, list[str]]:
    engine = await Engine.load(store, region_tree())
    declared = await load_standing(engine, store, region_tree())
    return engine, [a.region_id for a in declared]


def test_the_shipped_standing_alerts_have_their_real_starts() -> None:
    found = {a.region_id: a.started_at for a in standing_alerts()}
    assert found == {
        LUHANSK: datetime(2022, 4, 4, 16, 45, tzinfo=UTC),
        CRIMEA: datetime(2022, 12, 10, 22, 22, tzinfo=UTC),
    }


async def test_declared_once_through_the_engine_as_live_alerts(store: Store) -> None:
    engine, declared = await load(store)
    assert declared == [LUHANSK, CRIMEA]
    active = {a.region_id: a for a in engine.projection.active()}
    assert active[LUHANSK].started_at == datetime(2022, 4, 4, 16, 45, tzinfo=UTC)
    assert active[LUHANSK].issuer == STANDING_ISSUER and not is_historical(STANDING_ISSUER)
    assert active[LUHANSK].message is not None and active[LUHANSK].message.en
    events = [decode_event(raw) for raw in await store.events_by_issuer(STANDING_ISSUER, 10)]
    assert len(events) == 2
    assert all(e.at > e.alert.started_at for e in events)  # entered now, begun in 2022
    audit = await store.read_audit(AuditQuery(STANDING_ISSUER, limit=10))
    assert len(audit) == 2 and all(e.outcome == "ok" for e in audit)
    tokens = {t.name: t for t in await store.list_tokens()}
    assert set(tokens[STANDING_ISSUER].scope) == {LUHANSK, CRIMEA}

    _, again = await load(store)  # the next start
    assert again == []


async def test_an_operator_who_cleared_them_is_not_overruled(store: Store) -> None:
    engine, _ = await load(store)
    principal = Principal(STANDING_ISSUER, Role.ISSUER, (LUHANSK, CRIMEA))
    for alert in engine.projection.active():
        await engine.execute(ClearAlert(alert.id), principal)
    engine, again = await load(store)
    assert again == [] and engine.projection.active() == []


async def test_a_revoked_token_turns_them_off(store: Store) -> None:
    from tryvoha.engine.auth import issue_token

    await issue_token(store, region_tree(), STANDING_ISSUER, Role.ISSUER, [LUHANSK])
    assert await store.revoke_token(STANDING_ISSUER)
    engine, declared = await load(store)
    assert declared == [] and engine.projection.active() == []


def test_a_declare_may_begin_before_now_but_not_after() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    began = datetime(2022, 4, 4, 16, 45, tzinfo=UTC)
    decision = decide_declare(
        Declare((LUHANSK,), started_at=began),
        Projection(),
        region_tree(),
        now=now,
        issuer="x",
        new_id=lambda: "a1",  # type: ignore[arg-type,return-value]
    )
    (alert,) = decision.alerts
    assert alert.started_at == began and alert.updated_at == now
    assert decision.events[0].at == now
    with pytest.raises(ValueError, match="future"):
        decide_declare(
            Declare((LUHANSK,), started_at=datetime(2027, 1, 1, tzinfo=UTC)),
            Projection(),
            region_tree(),
            now=now,
            issuer="x",
            new_id=lambda: "a1",  # type: ignore[arg-type,return-value]
        )
