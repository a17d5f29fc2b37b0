"""A false alarm takes two people (issue 15, item 7): with --confirm-over N, a declare over
N oblast-level regions is held, nothing of it reaches anyone, until another admin token
confirms it in time; it can be cancelled or expire; every step is audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import KYIV_CITY, LVIV
from tests.server.conftest import Api
from tryvoha.config import Settings
from tryvoha.data import region_tree
from tryvoha.domain.regions import Level
from tryvoha.domain.scope import Role
from tryvoha.server.app import create_app
from tryvoha.store.base import AuditQuery

pytestmark = pytest.mark.anyio
OBLASTS = [r.id for r in region_tree().at_level(Level.OBLAST)]


@pytest.fixture
async def api(store_url: str) -> AsyncIterator[Api]:
    app = create_app(
        Settings(store=store_url, confirm_over=20, confirm_within_seconds=0.5)  # type: ignore[call-arg]
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tryvoha.test") as client:
            yield Api(client, app.state.services)


async def test_a_nationwide_declare_waits_for_a_second_admin(api: Api) -> None:
    asker = await api.token("national", "UA", role=Role.ADMIN)
    other = await api.token("deputy", "UA", role=Role.ADMIN)
    issuer = await api.token("lviv", LVIV)
    held = await api.client.post("/api/v1/alerts", json={"regions": OBLASTS}, headers=asker)
    assert held.status_code == 202
    pending = held.json()["pending"]
    assert pending["status"] == "pending" and pending["oblasts"] == 27
    assert await api.seq() == 0  # nothing in the log: nothing reached anyone
    listed = await api.client.get("/api/v1/pending", headers=issuer)
    assert [p["id"] for p in listed.json()["pending"]] == [pending["id"]]

    confirm = f"/api/v1/pending/{pending['id']}/confirm"
    own = await api.client.post(confirm, headers=asker)
    assert (own.status_code, own.json()["code"]) == (403, "confirm_by_another")
    not_admin = await api.client.post(confirm, headers=issuer)
    assert (not_admin.status_code, not_admin.json()["code"]) == (403, "forbidden")
    confirmed = await api.client.post(confirm, headers=other)
    assert confirmed.status_code == 201, confirmed.text
    alerts = confirmed.json()["alerts"]
    assert len(alerts) == 27 and {a["issuer"] for a in alerts} == {"national"}
    assert await api.seq() == 27
    again = await api.client.post(confirm, headers=other)
    assert (again.status_code, again.json()["code"]) == (409, "pending_decided")
    assert await api.seq() == 27  # one set of alerts

    audit = await api.services.store.read_audit(AuditQuery(limit=20))
    steps = [(e.actor, e.action) for e in audit if e.action.startswith("declare.")]
    assert steps == [("deputy", "declare.confirm"), ("national", "declare.hold")]


async def test_a_declare_that_could_not_be_carried_out_is_refused_not_held(api: Api) -> None:
    """The country itself is not declarable (name the oblasts): refused at once, as the
    declare would be, instead of held for a confirmation that must then fail."""
    asker = await api.token("national", "UA", role=Role.ADMIN)
    refused = await api.client.post("/api/v1/alerts", json={"regions": ["UA"]}, headers=asker)
    assert (refused.status_code, refused.json()["code"]) == (422, "region_not_declarable")
    listed = await api.client.get("/api/v1/pending", headers=asker)
    assert listed.json()["pending"] == []


async def test_a_held_declare_can_be_cancelled_or_run_out(api: Api) -> None:
    asker = await api.token("national", "UA")
    admin = await api.token("ops", "UA", role=Role.ADMIN)
    first = (
        await api.client.post("/api/v1/alerts", json={"regions": OBLASTS}, headers=asker)
    ).json()
    cancelled = await api.client.post(
        f"/api/v1/pending/{first['pending']['id']}/cancel", headers=asker
    )
    assert cancelled.json()["pending"]["status"] == "cancelled"
    second = (
        await api.client.post("/api/v1/alerts", json={"regions": OBLASTS}, headers=asker)
    ).json()
    await asyncio.sleep(0.6)  # --confirm-within 0.5 s
    late = await api.client.post(
        f"/api/v1/pending/{second['pending']['id']}/confirm", headers=admin
    )
    assert (late.status_code, late.json()["code"]) == (409, "pending_expired")
    assert await api.seq() == 0
    audit = await api.services.store.read_audit(AuditQuery(limit=20))
    assert {"declare.cancel", "declare.expire"} <= {e.action for e in audit}


async def test_what_is_not_held(api: Api) -> None:
    """A declare up to the limit goes ahead; one out of scope is refused at once; a retry
    with the same key finds the same held declare."""
    asker = await api.token("national", "UA")
    lviv = await api.token("lviv", LVIV)
    small = await api.client.post("/api/v1/alerts", json={"regions": OBLASTS[:20]}, headers=asker)
    assert small.status_code == 201
    outside = await api.client.post(
        "/api/v1/alerts", json={"regions": [LVIV, KYIV_CITY, *OBLASTS]}, headers=lviv
    )
    assert (outside.status_code, outside.json()["code"]) == (403, "out_of_scope")
    keyed = {**asker, "Idempotency-Key": "morning"}
    one = await api.client.post("/api/v1/alerts", json={"regions": OBLASTS}, headers=keyed)
    two = await api.client.post("/api/v1/alerts", json={"regions": OBLASTS}, headers=keyed)
    assert one.json()["pending"]["id"] == two.json()["pending"]["id"]
    assert two.headers["idempotent-replayed"] == "true"
    other = await api.client.post("/api/v1/alerts", json={"regions": ["UA"]}, headers=keyed)
    assert other.json()["code"] == "idempotency_key_reused"
    admin = await api.token("ops", "UA", role=Role.ADMIN)
    missing = await api.client.post("/api/v1/pending/nope/confirm", headers=admin)
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_pending")
