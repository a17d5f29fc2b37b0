"""The webhooks admin API, in-process: admin tokens only, the secret shown once, every
refusal a problem+json that changes nothing, private targets refused unless allowed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import LVIV
from tests.server.conftest import Api
from tryvoha.config import Settings
from tryvoha.domain.scope import Role
from tryvoha.server.app import create_app
from tryvoha.store.base import AuditQuery

pytestmark = pytest.mark.anyio
PUBLIC = "http://93.184.215.14:9/hook"  # resolves to itself, a public address; never reached


async def _api(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tryvoha.test") as client:
            yield Api(client, app.state.services)


@pytest.fixture
async def strict(store_url: str) -> AsyncIterator[Api]:
    async for api in _api(Settings(store=store_url, max_webhooks=3)):
        yield api


@pytest.fixture
async def lenient(store_url: str) -> AsyncIterator[Api]:
    async for api in _api(Settings(store=store_url, webhooks_allow_private=True)):
        yield api


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def test_only_admin_tokens_may_touch_webhooks(strict: Api) -> None:
    issuer = await strict.token("lviv", LVIV)
    for method, path in [
        ("POST", "/api/v1/webhooks"),
        ("GET", "/api/v1/webhooks"),
        ("GET", "/api/v1/webhooks/wh_x"),
        ("DELETE", "/api/v1/webhooks/wh_x"),
        ("POST", "/api/v1/webhooks/wh_x/resume"),
        ("POST", "/api/v1/webhooks/wh_x/replay?from_seq=1"),
    ]:
        kwargs: dict[str, Any] = {"json": {"url": PUBLIC}} if method == "POST" else {}
        problem(await strict.client.request(method, path, **kwargs), 401, "unauthorized")
        answer = await strict.client.request(method, path, headers=issuer, **kwargs)
        problem(answer, 403, "forbidden")
    assert await strict.services.store.webhooks() == []


async def test_the_secret_is_shown_once_and_the_rest_on_every_read(strict: Api) -> None:
    admin = await strict.token("root", "UA", role=Role.ADMIN)
    made = await strict.client.post(
        "/api/v1/webhooks",
        json={"url": PUBLIC, "regions": [LVIV], "threats": ["air_raid"], "description": "siren"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    data = made.json()
    assert data["secret"].startswith("whsec_")
    assert made.headers["location"] == f"/api/v1/webhooks/{data['id']}"
    assert (data["state"], data["regions"], data["threats"]) == ("active", [LVIV], ["air_raid"])
    shown = (await strict.client.get(f"/api/v1/webhooks/{data['id']}", headers=admin)).json()
    listed = (await strict.client.get("/api/v1/webhooks", headers=admin)).json()["webhooks"]
    assert "secret" not in shown and all("secret" not in w for w in listed)
    assert data["secret"] not in str(shown) + str(listed)
    assert shown["waiting"] == 0 and shown["attempts"] == []
    assert [w["id"] for w in listed] == [data["id"]]
    entries = await strict.services.store.read_audit(AuditQuery(actor="root", limit=10))
    actions = [e.action for e in entries]
    assert "webhook.create" in actions


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "ftp://example.org/x"}, 422, "invalid_webhook_url"),
        ({"url": "https://u:p@example.org/x"}, 422, "invalid_webhook_url"),
        ({"url": "http://127.0.0.1:9/hook"}, 422, "unsafe_webhook_url"),
        ({"url": "http://localhost:9/hook"}, 422, "unsafe_webhook_url"),
        ({"url": "http://169.254.169.254/latest"}, 422, "unsafe_webhook_url"),
        ({"url": "http://[::1]:9/"}, 422, "unsafe_webhook_url"),
        ({"url": PUBLIC, "regions": ["UA99"]}, 422, "unknown_region"),
        ({"url": PUBLIC, "regions": []}, 422, "invalid_body"),
        ({"url": PUBLIC, "threats": ["drones"]}, 422, "invalid_body"),
        ({"url": PUBLIC, "secret": "mine"}, 422, "invalid_body"),
        ({}, 422, "invalid_body"),
    ],
)
async def test_a_bad_subscription_is_refused_and_changes_nothing(
    strict: Api, body: dict[str, Any], status: int, code: str
) -> None:
    admin = await strict.token("root", "UA", role=Role.ADMIN)
    answer = await strict.client.post("/api/v1/webhooks", json=body, headers=admin)
    problem(answer, status, code)
    assert await strict.services.store.webhooks() == []


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b'{"url": "' + PUBLIC.encode() + b'\xff"}', 400, "malformed_json"),  # not UTF-8
        (b'{"url": "' + PUBLIC.encode() + b'", "url": "https://e.org/"}', 422, "invalid_body"),
        (b"\xef\xbb\xbf" + b'{"url": "' + PUBLIC.encode() + b'"}', 400, "malformed_json"),
    ],
)
async def test_a_body_is_held_to_the_writes_rules(
    strict: Api, raw: bytes, status: int, code: str
) -> None:
    """Not UTF-8, a key given twice, a byte order mark: refused as problem+json, as the
    writes' bodies are (found by the contract run: an empty 400)."""
    admin = await strict.token("root", "UA", role=Role.ADMIN)
    headers = {**admin, "Content-Type": "application/json"}
    answer = await strict.client.post("/api/v1/webhooks", content=raw, headers=headers)
    problem(answer, status, code)
    assert await strict.services.store.webhooks() == []


async def test_the_body_rules_hold_whatever_the_case_of_its_media_type(strict: Api) -> None:
    admin = await strict.token("root", "UA", role=Role.ADMIN)
    raw = b'{"url": "' + PUBLIC.encode() + b'", "url": "https://e.org/"}'
    headers = {**admin, "Content-Type": "Application/JSON"}
    answer = await strict.client.post("/api/v1/webhooks", content=raw, headers=headers)
    problem(answer, 422, "invalid_body")


async def test_private_targets_are_taken_when_allowed(lenient: Api) -> None:
    admin = await lenient.token("root", "UA", role=Role.ADMIN)
    made = await lenient.client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=admin
    )
    assert made.status_code == 201, made.text


async def test_unknown_ids_limits_and_replay_ranges(strict: Api) -> None:
    admin = await strict.token("root", "UA", role=Role.ADMIN)
    for method, path in [
        ("GET", "/api/v1/webhooks/wh_nope"),
        ("DELETE", "/api/v1/webhooks/wh_nope"),
        ("POST", "/api/v1/webhooks/wh_nope/resume"),
        ("POST", "/api/v1/webhooks/wh_nope/replay?from_seq=1"),
    ]:
        problem(await strict.client.request(method, path, headers=admin), 404, "unknown_webhook")
    ids = []
    for _ in range(3):
        made = await strict.client.post("/api/v1/webhooks", json={"url": PUBLIC}, headers=admin)
        ids.append(made.json()["id"])
    refused = await strict.client.post("/api/v1/webhooks", json={"url": PUBLIC}, headers=admin)
    problem(refused, 409, "too_many_webhooks")
    base = f"/api/v1/webhooks/{ids[0]}"
    for query in ("from_seq=0", "from_seq=x", "", "from_seq=2"):  # the log is empty: 1 at most
        answer = await strict.client.post(f"{base}/replay?{query}", headers=admin)
        problem(answer, 422, "invalid_parameter")
    replayed = await strict.client.post(f"{base}/replay?from_seq=1", headers=admin)
    assert replayed.status_code == 202 and replayed.json()["replay_from"] == 1
    resumed = await strict.client.post(f"{base}/resume", headers=admin)
    assert resumed.status_code == 200 and resumed.json()["state"] == "active"
    removed = await strict.client.delete(base, headers=admin)
    assert removed.status_code == 204
    problem(await strict.client.get(base, headers=admin), 404, "unknown_webhook")
    assert len(await strict.services.store.webhooks()) == 2


async def test_the_problem_catalogue_lists_the_webhook_codes(strict: Api) -> None:
    codes = {p["code"] for p in (await strict.client.get("/api/v1/problems")).json()["problems"]}
    assert {
        "unknown_webhook",
        "invalid_webhook_url",
        "unsafe_webhook_url",
        "too_many_webhooks",
    } <= codes
