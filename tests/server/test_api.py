from __future__ import annotations

import pytest

from tests.conftest import KHARKIV, KYIV_CITY, LVIV
from tests.server.conftest import Api
from tests.support.log import raw
from tryvoha.data import region_tree
from tryvoha.domain.regions import Level
from tryvoha.domain.scope import Role
from tryvoha.store.base import AuditQuery

pytestmark = pytest.mark.anyio


async def test_regions_list_every_region_with_the_fields_asked_for(api: Api) -> None:
    response = await api.client.get("/api/v1/regions")
    regions = response.json()["regions"]
    assert len(regions) == 1936
    assert set(regions[0]) == {"id", "level", "parent_id", "name_uk", "name_en"}
    lviv = next(r for r in regions if r["id"] == LVIV)
    assert lviv == {
        "id": LVIV,
        "level": "oblast",
        "parent_id": "UA",
        "name_uk": "Львівська область",
        "name_en": "Lvivska oblast",
    }
    assert response.headers["etag"]
    missing = await api.client.get("/api/v1/regions/UA99")
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_region"


async def test_declare_then_read_it_everywhere(api: Api) -> None:
    auth = await api.token("lviv-duty", LVIV)
    body = {
        "regions": [LVIV],
        "threat": "air_raid",
        "threats": ["ballistic_missiles", {"kind": "drones", "note": "Shaheds from the east"}],
        "message": {"uk": "Тривога! Прямуйте в укриття.", "en": "Air raid! Go to a shelter."},
    }
    response = await api.client.post("/api/v1/alerts", json=body, headers=auth)
    assert response.status_code == 201
    answer = response.json()
    assert answer["seq"] == 1
    alert = answer["alerts"][0]
    assert set(alert) == {
        "id",
        "region_id",
        "threat",
        "level",
        "threats",
        "message",
        "started_at",
        "updated_at",
        "ended_at",
        "issuer",
    }
    assert alert["level"] == "red" and alert["issuer"] == "lviv-duty" and alert["ended_at"] is None
    assert [t["kind"] for t in alert["threats"]] == ["ballistic_missiles", "drones"]
    assert alert["threats"][1]["note"] == "Shaheds from the east"
    assert alert["started_at"].endswith("Z")

    active = await api.client.get("/api/v1/alerts/active")
    assert active.json() == {"seq": 1, "alerts": [alert]}
    assert (await api.client.get(f"/api/v1/alerts/{alert['id']}")).json() == alert
    region = (await api.client.get(f"/api/v1/regions/{LVIV}")).json()
    assert region["state"]["air_raid"] == "alert" and region["state"]["chemical"] == "clear"
    assert region["active_alerts"] == [alert]
    hromada = next(
        r.id for r in region_tree().at_level(Level.HROMADA) if region_tree().oblast_of(r.id) == LVIV
    )
    state = (await api.client.get("/api/v1/state")).json()
    assert state["regions"][hromada] == {"air_raid": "alert"}
    assert state["regions"]["UA"] == {"air_raid": "partial"}
    assert KYIV_CITY not in state["regions"]

    cleared = await api.client.post(f"/api/v1/alerts/{alert['id']}/clear", headers=auth)
    assert cleared.status_code == 200 and cleared.json()["seq"] == 2
    assert cleared.json()["alerts"][0]["ended_at"] is not None
    assert (await api.client.get("/api/v1/state")).json() == {"seq": 2, "regions": {}}
    again = await api.client.post(f"/api/v1/alerts/{alert['id']}/clear", headers=auth)
    assert again.status_code == 409 and again.json()["code"] == "alert_not_active"
    history = (await api.client.get("/api/v1/alerts", params={"region": hromada})).json()
    assert [a["id"] for a in history["alerts"]] == [alert["id"]]


async def test_active_alerts_carry_a_strong_etag(api: Api) -> None:
    first = await api.client.get("/api/v1/alerts/active")
    etag = first.headers["etag"]
    assert not etag.startswith("W/") and "max-age" in first.headers["cache-control"]
    cached = await api.client.get("/api/v1/alerts/active", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    auth = await api.token("k", KHARKIV)
    await api.client.post("/api/v1/alerts", json={"regions": [KHARKIV]}, headers=auth)
    fresh = await api.client.get("/api/v1/alerts/active", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag


async def test_a_retried_request_never_makes_a_second_alert(api: Api) -> None:
    auth = await api.token("lviv", LVIV)
    headers = {**auth, "Idempotency-Key": "declare-42"}
    first = await api.client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=headers)
    assert first.status_code == 201
    await api.client.post(f"/api/v1/alerts/{first.json()['alerts'][0]['id']}/clear", headers=auth)
    retry = await api.client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=headers)
    assert retry.status_code == 201 and retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert await api.seq() == 2  # the declare and the clear; the retry wrote nothing
    assert (await api.client.get("/api/v1/alerts/active")).json()["alerts"] == []


async def test_a_key_reused_for_another_request_is_refused(api: Api) -> None:
    auth = await api.token("lviv", LVIV, "UA46020000000075920")
    headers = {**auth, "Idempotency-Key": "k-1"}
    await api.client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=headers)
    other = await api.client.post(
        "/api/v1/alerts", json={"regions": [LVIV], "level": "yellow"}, headers=headers
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert await api.seq() == 1


async def test_scope_is_enforced_and_a_refused_write_is_refused_whole(api: Api) -> None:
    auth = await api.token("lviv", LVIV)
    oblasts = [r.id for r in region_tree().at_level(Level.OBLAST)]
    nationwide = await api.client.post("/api/v1/alerts", json={"regions": oblasts}, headers=auth)
    assert nationwide.status_code == 403
    problem = nationwide.json()
    assert (
        problem["code"] == "out_of_scope"
        and KYIV_CITY in problem["regions"]
        and LVIV not in problem["regions"]
    )
    assert nationwide.headers["content-type"] == "application/problem+json"
    assert await api.seq() == 0
    # a descendant is in scope; another token's alert outside the scope cannot be cleared
    hromada = next(
        r.id for r in region_tree().at_level(Level.HROMADA) if region_tree().oblast_of(r.id) == LVIV
    )
    assert (
        await api.client.post("/api/v1/alerts", json={"regions": [hromada]}, headers=auth)
    ).status_code == 201
    kyiv = await api.token("kyiv", KYIV_CITY)
    kyiv_alert = (
        await api.client.post("/api/v1/alerts", json={"regions": [KYIV_CITY]}, headers=kyiv)
    ).json()
    refused = await api.client.post(
        f"/api/v1/alerts/{kyiv_alert['alerts'][0]['id']}/clear", headers=auth
    )
    assert refused.status_code == 403
    assert (await api.client.post("/api/v1/regions/UA/clear", headers=auth)).status_code == 403
    assert await api.seq() == 2
    denied = await api.services.store.read_audit(AuditQuery("lviv", limit=10))
    assert [a.outcome for a in denied].count("denied") == 3


async def test_writes_need_a_valid_token(api: Api) -> None:
    body = {"regions": [LVIV]}
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = await api.client.post("/api/v1/alerts", json=body, headers=headers)
        assert response.status_code == 401 and response.json()["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    auth = await api.token("gone", LVIV)
    assert (await api.client.get("/api/v1/me", headers=auth)).status_code == 200  # now remembered
    await api.services.store.revoke_token("gone")
    revoked = await api.client.post("/api/v1/alerts", json=body, headers=auth)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    assert await api.seq() == 0


@pytest.mark.parametrize(
    ("body", "status", "code", "mentions"),
    [
        (b'{"regions": ["UA46000000000026241"', 400, "malformed_json", "JSON"),
        (b'{"regions": ["UA00000000000000000"]}', 422, "unknown_region", "UA00000000000000000"),
        (
            b'{"regions": ["UA46000000000026241"], "threat": "meteor"}',
            422,
            "invalid_body",
            "threat",
        ),
        (b'{"regions": ["UA46000000000026241"], "level": "orange"}', 422, "invalid_body", "level"),
        (b'{"regions": "UA46000000000026241"}', 422, "invalid_body", "regions"),
        (b'{"regions": []}', 422, "invalid_body", "regions"),
        (
            b'{"regions": ["UA46000000000026241"], "threats": ["asteroids"]}',
            422,
            "invalid_body",
            "threats",
        ),
        (b'{"regions": ["UA46000000000026241"], "colour": "red"}', 422, "invalid_body", "colour"),
        (b'{"regions": ["UA"]}', 422, "region_not_declarable", "oblasts"),
        (b"[1, 2]", 422, "invalid_body", "body"),
    ],
)
async def test_bad_input_gets_a_problem_and_writes_nothing(
    api: Api, body: bytes, status: int, code: str, mentions: str
) -> None:
    auth = await api.token("all", "UA")
    response = await api.client.post(
        "/api/v1/alerts", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code and mentions in problem["detail"] and problem["status"] == status
    assert await api.seq() == 0


async def test_an_oversize_body_is_refused(api: Api) -> None:
    auth = await api.token("all", "UA")
    huge = b'{"regions": ["UA46000000000026241"], "message": {"en": "' + b"x" * 8000 + b'"}}'
    response = await api.client.post(
        "/api/v1/alerts", content=huge, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"

    async def chunks():  # no Content-Length: the limit still holds
        for _ in range(10):
            yield b" " * 1000

    chunked = await api.client.post(
        "/api/v1/alerts", content=chunks(), headers={**auth, "Content-Type": "application/json"}
    )
    assert chunked.status_code == 413 and chunked.json()["code"] == "body_too_large"
    assert await api.seq() == 0


async def test_bad_query_parameters_are_named(api: Api) -> None:
    for params, field in [
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"threat": "x"}, "threat"),
        ({"cursor": "'; drop"}, "cursor"),
        ({"region": "Atlantis"}, "Atlantis"),
    ]:
        response = await api.client.get("/api/v1/alerts", params=params)
        assert response.status_code == 422, params
        assert field in response.json()["detail"]
    unknown = await api.client.get("/api/v1/alerts/nope")
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_alert"
    nowhere = await api.client.get("/api/v1/nowhere")
    assert nowhere.status_code == 404 and nowhere.json()["code"] == "not_found"


async def test_update_changes_level_threats_and_message(api: Api) -> None:
    auth = await api.token("lviv", LVIV)
    alert = (
        await api.client.post(
            "/api/v1/alerts", json={"regions": [LVIV], "level": "yellow"}, headers=auth
        )
    ).json()["alerts"][0]
    patched = await api.client.patch(
        f"/api/v1/alerts/{alert['id']}",
        headers=auth,
        json={"level": "red", "threats": ["cruise_missiles"], "message": {"en": "Shelter now"}},
    )
    assert patched.status_code == 200
    changed = patched.json()["alerts"][0]
    assert changed["level"] == "red" and changed["threats"][0]["kind"] == "cruise_missiles"
    assert changed["message"] == {"uk": None, "en": "Shelter now"} and patched.json()["seq"] == 2
    removed = await api.client.patch(
        f"/api/v1/alerts/{alert['id']}", headers=auth, json={"message": None}
    )
    assert removed.json()["alerts"][0]["message"] is None
    empty = await api.client.patch(f"/api/v1/alerts/{alert['id']}", headers=auth, json={})
    assert empty.status_code == 422 and "nothing to change" in empty.json()["detail"]


async def test_clear_a_region_and_everything_below(api: Api) -> None:
    auth = await api.token("lviv", LVIV)
    raion = region_tree().children(LVIV)[0]
    await api.client.post("/api/v1/alerts", json={"regions": [LVIV, raion]}, headers=auth)
    await api.client.post(
        "/api/v1/alerts", json={"regions": [raion], "threat": "chemical"}, headers=auth
    )
    only_air = await api.client.post(
        f"/api/v1/regions/{LVIV}/clear", params={"threat": "air_raid"}, headers=auth
    )
    assert {a["region_id"] for a in only_air.json()["alerts"]} == {LVIV, raion}
    rest = await api.client.post(f"/api/v1/regions/{LVIV}/clear", headers=auth)
    assert [a["threat"] for a in rest.json()["alerts"]] == ["chemical"]
    nothing = await api.client.post(f"/api/v1/regions/{LVIV}/clear", headers=auth)
    assert nothing.status_code == 409 and nothing.json()["code"] == "nothing_active"


async def test_me_and_my_events(api: Api) -> None:
    auth = await api.token("lviv", LVIV)
    assert (await api.client.get("/api/v1/me", headers=auth)).json() == {
        "name": "lviv",
        "role": "issuer",
        "scope": [LVIV],
    }
    await api.client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=auth)
    events = (await api.client.get("/api/v1/me/events", headers=auth)).json()["events"]
    assert [e["type"] for e in events] == ["alert.declared"]


async def test_openapi_and_docs_are_served(api: Api) -> None:
    spec = (await api.client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/alerts" in spec["paths"] and "/api/v1/events" in spec["paths"]
    assert (await api.client.get("/api/v1/docs")).status_code == 200


async def test_the_audit_log_is_for_admins(api: Api) -> None:
    issuer = await api.token("lviv", LVIV)
    admin = await api.token("ops", "UA", role=Role.ADMIN)
    await api.client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=issuer)
    await api.client.post("/api/v1/alerts", json={"regions": [KYIV_CITY]}, headers=issuer)
    refused = await api.client.get("/api/v1/audit", headers=issuer)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    entries = (
        await api.client.get("/api/v1/audit", params={"token": "lviv"}, headers=admin)
    ).json()["entries"]
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("alert.declare", "denied"),
        ("alert.declare", "ok"),
    ]


async def test_health_says_how_far_the_process_has_read(api: Api) -> None:
    auth = await api.token("lviv", LVIV)
    await api.client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=auth)
    health = (await api.client.get("/api/v1/health")).json()
    assert health == {
        "status": "ok",
        "role": "all",
        "seq": 1,
        "active_alerts": 1,
        "subscribers": 0,
        "dropped_slow_subscribers": 0,
        "refused": {},
        "bus": {
            "kind": "local",
            "connected": True,
            "heard_seq": 1,
            "lag_events": 0,
            "published_seq": None,
            "unpublished_events": 0,
        },
    }


async def test_an_answer_that_wrote_nothing_is_bound_to_its_key_too(api: Api) -> None:
    first = await api.token("a", LVIV)
    second = await api.token("b", LVIV)
    declared = await api.client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=first)
    # b's declare finds a's alert active: nothing written, and that answer is b's for key K
    noop = await api.client.post(
        "/api/v1/alerts", json={"regions": [LVIV]}, headers={**second, "Idempotency-Key": "K"}
    )
    assert noop.status_code == 200
    await api.client.post(
        f"/api/v1/alerts/{declared.json()['alerts'][0]['id']}/clear", headers=first
    )
    retry = await api.client.post(
        "/api/v1/alerts", json={"regions": [LVIV]}, headers={**second, "Idempotency-Key": "K"}
    )
    assert retry.status_code == 200 and retry.content == noop.content  # not a new alert
    other = await api.client.post(
        "/api/v1/alerts",
        json={"regions": [LVIV], "level": "yellow"},
        headers={**second, "Idempotency-Key": "K"},
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert (await api.client.get("/api/v1/alerts/active")).json()["alerts"] == []


async def test_times_out_of_range_and_odd_keys_and_media_types_are_4xx(api: Api) -> None:
    for params in ({"since": "0001-01-01T00:00:00+01:00"}, {"until": "9999-12-31T23:59:59-01:00"}):
        response = await api.client.get("/api/v1/alerts", params=params)
        assert response.status_code == 422 and next(iter(params)) in response.json()["detail"]
    auth = await api.token("lviv", LVIV)
    newline = await api.client.post(
        "/api/v1/alerts", json={"regions": [LVIV]}, headers={**auth, "Idempotency-Key": "abc\n"}
    )
    assert newline.status_code in (400, 422)
    plain = await api.client.post(
        "/api/v1/alerts",
        content=b'{"regions": ["UA46000000000026241"]}',
        headers={**auth, "Content-Type": "text/plain"},
    )
    assert plain.status_code == 415 and plain.json()["code"] == "unsupported_media_type"
    assert await api.seq() == 0


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        (
            b'\xef\xbb\xbf{"regions": ["UA46000000000026241"]}',
            400,
            "malformed_json",
            "byte order mark",
        ),
        ('{"regions": ["UA46000000000026241"]}'.encode("utf-16"), 400, "malformed_json", "UTF-16"),
        (b'{"regions": ["\xc0\xaf"]}', 400, "malformed_json", "not UTF-8"),
        (b'{"regions": ["UA"], "regions": ["UA46000000000026241"]}', 422, "invalid_body", "twice"),
        ('{"regions": ["UA46000000000026241\u00a0"]}'.encode(), 422, "unknown_region", "UA46"),
        (b'{"regions": [" UA46000000000026241"]}', 422, "unknown_region", "UA46"),
    ],
    ids=["bom", "utf-16", "overlong utf-8", "duplicate key", "no-break space", "leading space"],
)
async def test_a_body_is_strict_json_with_exact_ids(
    api: Api, body: bytes, status: int, code: str, says: str
) -> None:
    auth = await api.token("all", "UA")
    answer = await api.client.post(
        "/api/v1/alerts", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    assert says in answer.json()["detail"]
    assert await api.seq() == 0  # nothing written


async def test_a_key_keeps_what_makes_its_answer_again_not_the_answer(
    api: Api, store_url: str
) -> None:
    """A no-op nationwide declare answers tens of KB; its key keeps a few hundred bytes,
    and a retry gets the same bytes back, even after the alerts changed."""
    auth = await api.token("all", "UA")
    oblasts = [r.id for r in region_tree().at_level(Level.OBLAST)]
    declare = {"regions": oblasts, "message": {"uk": "Тривога! " * 150, "en": "Alert! " * 150}}
    first = await api.client.post("/api/v1/alerts", json=declare, headers=auth)
    assert first.status_code == 201
    noop = await api.client.post(
        "/api/v1/alerts", json=declare, headers={**auth, "Idempotency-Key": "again"}
    )
    assert noop.status_code == 200 and len(noop.content) > 40_000
    (kept,) = raw(store_url, "SELECT body FROM idempotency WHERE key = ?", "again")
    assert len(kept[0]) < 1_500
    await api.client.post("/api/v1/regions/UA/clear", headers=auth)  # the alerts end
    retry = await api.client.post(
        "/api/v1/alerts", json=declare, headers={**auth, "Idempotency-Key": "again"}
    )
    assert retry.headers["idempotent-replayed"] == "true"
    assert (retry.status_code, retry.content) == (noop.status_code, noop.content)
