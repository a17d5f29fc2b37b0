"""The compatible APIs over ASGI: keys, status codes and error bodies as the originals
give them, 304s, rate limits, and that reading them writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import KYIV_CITY, LVIV
from tests.server.conftest import Api
from tests.support.log import raw, read_log
from tryvoha.config import Settings
from tryvoha.data import region_tree
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import issue_token
from tryvoha.server.app import create_app

pytestmark = pytest.mark.anyio
UNLIMITED = {
    "alerts_in_ua_rate_limit": "off",
    "alerts_in_ua_history_rate_limit": "off",
    "ukrainealarm_rate_limit": "off",
}
IOT = "/v1/iot/active_air_raid_alerts_by_oblast.json"


async def started(store_url: str, **settings: object) -> AsyncIterator[Api]:
    app = create_app(Settings(store=store_url, **settings))  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tryvoha.test") as client:
            yield Api(client, app.state.services)


@pytest.fixture
async def open_api(store_url: str) -> AsyncIterator[Api]:
    async for api in started(store_url, **UNLIMITED):
        yield api


async def reader(api: Api, name: str = "led-map") -> str:
    issued = await issue_token(api.services.store, region_tree(), name, Role.READER, [])
    return issued.secret


def audit_rows(store_url: str) -> int:
    return int(raw(store_url, "SELECT count(*) FROM audit")[0][0])


async def test_keys_in_each_apis_own_form(open_api: Api) -> None:
    client = open_api.client
    key = await reader(open_api)
    bearer = {"Authorization": f"Bearer {key}"}
    assert (await client.get(IOT, headers=bearer)).status_code == 200
    assert (await client.get(IOT, params={"token": key})).status_code == 200
    assert (await client.get("/api/v3/alerts/status", headers={"Authorization": key})).json() == {
        "lastActionIndex": 0
    }
    for url, headers in [
        (IOT, {}),
        (IOT, {"Authorization": "Bearer tv_not-a-key"}),
        (IOT, {"Authorization": f"Basic {key}"}),
        ("/v1/alerts/active.json?token=nope", {}),
    ]:
        refused = await client.get(url, headers=headers)
        assert refused.status_code == 401, url
        assert refused.headers["content-type"] == "application/json"
        assert refused.json()["message"] and refused.json()["code"] == "unauthorized"
    refused = await client.get("/api/v3/alerts", headers={"Authorization": "wrong"})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "unauthorized" and "not valid" in refused.json()["detail"]
    await open_api.services.store.revoke_token("led-map")
    open_api.services.authenticate._known.clear()  # past its 5 s memory
    revoked = await client.get(IOT, headers=bearer)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["message"]


async def test_an_issuers_token_is_a_key_too(open_api: Api) -> None:
    auth = await open_api.token("lviv-duty", LVIV)
    response = await open_api.client.get("/v1/alerts/active.json", headers=auth)
    assert response.status_code == 200 and response.json()["alerts"] == []


async def test_unknown_places_and_periods(open_api: Api) -> None:
    client = open_api.client
    key = await reader(open_api)
    bearer = {"Authorization": f"Bearer {key}"}
    for uid in ("0", "2", "999999", "abc", "%D9%A2"):
        missing = await client.get(f"/v1/iot/active_air_raid_alerts/{uid}.json", headers=bearer)
        assert missing.status_code == 404, uid
        assert f"'{uid}'" in missing.json()["message"] or uid.startswith("%")
    bad = await client.get("/v1/regions/27/alerts/year_ago.json", headers=bearer)
    assert bad.status_code == 400 and "week_ago, month_ago" in bad.json()["message"]
    missing = await client.get("/v1/regions/7/alerts/month_ago.json", headers=bearer)
    assert missing.status_code == 404
    plain = {"Authorization": key}
    unknown = await client.get("/api/v3/alerts/29", headers=plain)  # alerts.in.ua's Crimea only
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_region"
    assert unknown.headers["content-type"] == "application/problem+json"
    no_region = await client.get("/api/v3/alerts/regionHistory", headers=plain)
    assert no_region.status_code == 400 and "regionId" in no_region.json()["detail"]
    unknown = await client.get("/api/v3/alerts/regionHistory?regionId=5000", headers=plain)
    assert unknown.status_code == 404


async def test_reading_writes_nothing(open_api: Api, store_url: str) -> None:
    auth = await open_api.token("duty", "UA")
    declared = await open_api.client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=auth)
    assert declared.status_code == 201
    key = await reader(open_api)
    log, audit = read_log(store_url), audit_rows(store_url)
    bearer, plain = {"Authorization": f"Bearer {key}"}, {"Authorization": key}
    urls = [
        ("/v1/alerts/active.json", bearer),
        ("/v1/regions/27/alerts/week_ago.json", bearer),
        ("/v1/regions/27/alerts/decade.json", bearer),
        ("/v1/iot/active_air_raid_alerts/27.json", bearer),
        ("/v2/iot/active_air_raid_alerts.json", bearer),
        (IOT, {"Authorization": "Bearer wrong"}),
        ("/api/v3/alerts", plain),
        ("/api/v3/alerts/27", plain),
        ("/api/v3/alerts/77777", plain),
        ("/api/v3/alerts/regionHistory?regionId=27", plain),
        ("/api/v3/regions", plain),
        ("/api/v3/alerts/status", {}),
    ]
    for url, headers in urls:
        await open_api.client.get(url, headers=headers)
    assert read_log(store_url) == log and audit_rows(store_url) == audit


async def test_if_modified_since_and_if_none_match(open_api: Api) -> None:
    client = open_api.client
    bearer = {"Authorization": f"Bearer {await reader(open_api)}"}
    first = await client.get(IOT, headers=bearer)
    assert first.status_code == 200 and first.json() == "N" * 27
    stamp, etag = first.headers["last-modified"], first.headers["etag"]
    assert (
        await client.get(IOT, headers={**bearer, "If-Modified-Since": stamp})
    ).status_code == 304
    same = await client.get(IOT, headers={**bearer, "If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["last-modified"]

    auth = await open_api.token("duty", "UA")
    await client.post("/api/v1/alerts", json={"regions": [LVIV, KYIV_CITY]}, headers=auth)
    changed = await client.get(IOT, headers={**bearer, "If-Modified-Since": stamp})
    assert changed.status_code == 200 and changed.json().count("A") == 2
    fresh = changed.headers["last-modified"]
    # within the change's second (and the settling time) a client asking again is told
    # again, never 304 for a body that may still change within that second
    assert (
        await client.get(IOT, headers={**bearer, "If-Modified-Since": fresh})
    ).status_code == 200
    later = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert (
        await client.get(IOT, headers={**bearer, "If-Modified-Since": later})
    ).status_code == 304


async def test_over_the_limit_is_429_with_retry_after(store_url: str) -> None:
    async for api in started(store_url):  # the defaults: 12/min, history 2/min, 200/5min
        key = await reader(api)
        bearer = {"Authorization": f"Bearer {key}"}
        answers = [(await api.client.get(IOT, headers=bearer)).status_code for _ in range(13)]
        assert answers == [200] * 12 + [429]
        refused = await api.client.get("/v1/alerts/active.json", params={"token": key})
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 5
        # the history has its own count, and another key its own bucket
        history = "/v1/regions/27/alerts/month_ago.json"
        assert [(await api.client.get(history, headers=bearer)).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        other = {"Authorization": f"Bearer {await reader(api, 'other')}"}
        assert (await api.client.get(IOT, headers=other)).status_code == 200
        plain = {"Authorization": key}
        codes = [
            (await api.client.get("/api/v3/alerts", headers=plain)).status_code for _ in range(201)
        ]
        assert codes == [200] * 200 + [429]
        refused = await api.client.get("/api/v3/alerts/status", headers=plain)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) == 2
        assert refused.headers["content-type"] == "application/problem+json"
        # a bad key is 401 even from a client over its limit: never a disguised refusal
        assert (await api.client.get(IOT, headers={"Authorization": "Bearer x"})).status_code == 401


async def test_a_reader_writes_nothing_on_any_write_route(api: Api, store_url: str) -> None:
    issuer = await api.token("duty", "UA")
    declared = await api.client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=issuer)
    alert_id = declared.json()["alerts"][0]["id"]
    readers = [
        await api.token("reader-empty", role=Role.READER),
        await api.token("reader-ua", "UA", role=Role.READER),
    ]
    log, audit = read_log(store_url), audit_rows(store_url)
    for headers in readers:
        writes = [
            api.client.post("/api/v1/alerts", json={"regions": [KYIV_CITY]}, headers=headers),
            api.client.patch(
                f"/api/v1/alerts/{alert_id}", json={"level": "yellow"}, headers=headers
            ),
            api.client.post(f"/api/v1/alerts/{alert_id}/clear", headers=headers),
            api.client.post(f"/api/v1/regions/{LVIV}/clear", headers=headers),
        ]
        for write in writes:
            refused = await write
            assert refused.status_code == 403
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == "forbidden" and "reader" in refused.json()["detail"]
        me = await api.client.get("/api/v1/me", headers=headers)
        assert me.status_code == 200 and me.json()["role"] == "reader"
    assert read_log(store_url) == log
    assert audit_rows(store_url) == audit + 8  # each refusal is in the audit log
    admin = await api.token("ops", "UA", role=Role.ADMIN)
    entries = (await api.client.get("/api/v1/audit?token=reader-ua", headers=admin)).json()[
        "entries"
    ]
    assert {e["outcome"] for e in entries} == {"denied"} and len(entries) == 4


async def test_a_reader_token_needs_no_scope_but_an_issuer_does(api: Api) -> None:
    with pytest.raises(ValueError, match="needs a scope"):
        await issue_token(api.services.store, region_tree(), "x", Role.ISSUER, [])
    issued = await issue_token(api.services.store, region_tree(), "y", Role.READER, [" "])
    assert issued.record.scope == ()
