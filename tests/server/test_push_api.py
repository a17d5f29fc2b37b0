"""The Web Push API: subscribe, change regions, unsubscribe; the VAPID key; every
refusal a clear problem+json that stores nothing. Both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import KYIV_CITY, LVIV
from tests.server.conftest import Api
from tests.support.push import BrowserKeys, b64url
from tryvoha.channels.push import subscription_id
from tryvoha.config import Settings
from tryvoha.server.app import create_app

pytestmark = pytest.mark.anyio

ENDPOINT = "https://push.example.org/send/abc"


async def app_api(store_url: str, **settings: Any) -> AsyncIterator[Api]:
    app = create_app(Settings(store=store_url, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tryvoha.test") as client:
            yield Api(client, app.state.services)


@pytest.fixture
async def push_api(store_url: str) -> AsyncIterator[Api]:
    async for api in app_api(store_url, push_max_subscriptions=2, push_max_regions=3):
        yield api


def body(
    endpoint: str = ENDPOINT, regions: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "subscription": BrowserKeys().subscription(endpoint),
        "regions": [LVIV] if regions is None else regions,
        **extra,
    }


async def test_subscribe_change_and_unsubscribe(push_api: Api) -> None:
    client, store = push_api.client, push_api.services.store
    key = (await client.get("/api/v1/push/key")).json()["public_key"]
    assert push_api.services.push is not None and key == push_api.services.push.keys.public_key
    made = await client.post(
        "/api/v1/push/subscriptions", json=body(), headers={"Accept-Language": "fr"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["regions"] == [LVIV] and made.json()["lang"] == "fr"  # the page's language
    changed = await client.post(
        "/api/v1/push/subscriptions", json=body(regions=[LVIV, KYIV_CITY, LVIV], lang="en")
    )
    assert changed.status_code == 200  # the same browser: its regions replaced
    stored = await store.push_subscription(subscription_id(ENDPOINT))
    assert stored is not None and set(stored.regions) == {LVIV, KYIV_CITY} and stored.lang == "en"
    gone = await client.request("DELETE", "/api/v1/push/subscriptions", json={"endpoint": ENDPOINT})
    assert gone.status_code == 204
    assert await store.push_subscription(subscription_id(ENDPOINT)) is None
    again = await client.request(
        "DELETE", "/api/v1/push/subscriptions", json={"endpoint": ENDPOINT}
    )
    assert again.status_code == 404 and again.json()["code"] == "unknown_subscription"


async def test_a_new_endpoint_replaces_the_old_one(push_api: Api) -> None:
    """pushsubscriptionchange: the browser's push service gave it a new endpoint; the
    service worker sends it with the old one, and the regions carry over."""
    client, store = push_api.client, push_api.services.store
    await client.post("/api/v1/push/subscriptions", json=body(regions=[KYIV_CITY], lang="en"))
    new = "https://push.example.org/send/new"
    moved = await client.post(
        "/api/v1/push/subscriptions",
        json={"subscription": BrowserKeys().subscription(new), "replaces": ENDPOINT},
    )
    assert moved.status_code == 201 and moved.json()["regions"] == [KYIV_CITY]
    assert moved.json()["lang"] == "en"
    assert await store.push_subscription(subscription_id(ENDPOINT)) is None


def bad_keys() -> list[tuple[dict[str, str], str]]:
    keys = BrowserKeys().subscription(ENDPOINT)["keys"]
    return [
        ({**keys, "p256dh": b64url(b"\x04" + b"\x01" * 64)}, "not a point on P-256"),
        ({**keys, "p256dh": b64url(b"\x02" + b"\x01" * 32)}, "uncompressed"),
        ({**keys, "auth": b64url(b"short")}, "16-byte"),
    ]


@pytest.mark.parametrize(
    ("change", "status", "code", "detail"),
    [
        ({"endpoint": "http://push.example.org/x"}, 422, "unsafe_endpoint", "must be https"),
        ({"endpoint": "https://127.0.0.1/x"}, 422, "unsafe_endpoint", "not a public address"),
        ({"endpoint": "https://10.0.0.7/x"}, 422, "unsafe_endpoint", "not a public address"),
        ({"endpoint": "https://localhost/x"}, 422, "unsafe_endpoint", "local name"),
        ({"regions": ["UA99"]}, 422, "unknown_region", "UA99"),
        ({"regions": []}, 422, "invalid_body", "regions"),
        (
            {"regions": [LVIV, KYIV_CITY, "UA", "UA63000000000041885"]},
            422,
            "invalid_body",
            "at most 3",
        ),
        ({"lang": "de"}, 422, "invalid_body", "lang"),
        ({"keys": bad_keys()[0][0]}, 422, "invalid_subscription", bad_keys()[0][1]),
        ({"keys": bad_keys()[1][0]}, 422, "invalid_subscription", bad_keys()[1][1]),
        ({"keys": bad_keys()[2][0]}, 422, "invalid_subscription", bad_keys()[2][1]),
        ({"keys": {"p256dh": "a b", "auth": "x"}}, 422, "invalid_body", "p256dh"),
    ],
)
async def test_refusals_store_nothing(
    push_api: Api, change: dict[str, Any], status: int, code: str, detail: str
) -> None:
    sent, change = body(), dict(change)
    for name in ("endpoint", "keys"):
        if name in change:
            sent["subscription"][name] = change.pop(name)
    sent.update(change)
    answer = await push_api.client.post("/api/v1/push/subscriptions", json=sent)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code and detail in answer.json()["detail"]
    assert await push_api.services.store.push_subscriptions_for([LVIV]) == []


async def test_a_full_server_takes_no_new_browser(push_api: Api) -> None:
    for n in range(2):
        made = await push_api.client.post("/api/v1/push/subscriptions", json=body(f"{ENDPOINT}{n}"))
        assert made.status_code == 201
    full = await push_api.client.post("/api/v1/push/subscriptions", json=body(f"{ENDPOINT}x"))
    assert full.status_code == 503 and full.json()["code"] == "push_full"
    known = await push_api.client.post("/api/v1/push/subscriptions", json=body(f"{ENDPOINT}0"))
    assert known.status_code == 200  # one already stored may still change


async def test_push_turned_off(store_url: str) -> None:
    async for api in app_api(store_url, web_push=False):
        for answer in (
            await api.client.get("/api/v1/push/key"),
            await api.client.post("/api/v1/push/subscriptions", json=body()),
        ):
            assert answer.status_code == 404 and answer.json()["code"] == "push_off"
        page = await api.client.get(f"/region/{LVIV}")
        assert '"push_key":null' in page.text


async def test_the_keys_are_made_once_and_kept_in_the_store(store_url: str) -> None:
    keys = []
    for _ in range(2):  # two starts (or two processes) on one store: the same key
        async for api in app_api(store_url):
            keys.append((await api.client.get("/api/v1/push/key")).json()["public_key"])
            page = await api.client.get(f"/region/{LVIV}")
            assert f'"push_key":"{keys[-1]}"' in page.text
    assert keys[0] == keys[1] and len(keys[0]) == 87  # 65 bytes, base64url


async def test_a_body_with_a_key_twice_is_refused(push_api: Api) -> None:
    raw = b'{"endpoint": "https://push.example.org/a", "endpoint": "https://push.example.org/b"}'
    answer = await push_api.client.request(
        "DELETE",
        "/api/v1/push/subscriptions",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and "given twice" in answer.json()["detail"]
