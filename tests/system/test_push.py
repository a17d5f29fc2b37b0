"""Web Push end to end on loopback, on both stores: a real `tryvoha serve` pushes to a
local stand-in for the push service; each browser's messages are decrypted with the keys
the test made for it, as the browser would, and checked. Every event once, in order, per
browser; a browser its push service forgot is removed; 429 and 5xx are tried again; a
server killed with -9 resumes from the cursor in the store."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from py_vapid import Vapid02

from tests.conftest import LVIV
from tests.support.log import raw
from tests.support.nats import NatsServer
from tests.support.push import BrowserKeys, PushReceiver
from tests.support.server import ServerProcess, make_token, timeout
from tryvoha import i18n

SUMY = "UA59000000000057109"
SHOSTKA = "UA59100170000093676"  # a hromada in Sumy oblast


class World:
    def __init__(self, server: ServerProcess, push_receiver: PushReceiver) -> None:
        self.server = server
        self.rx = push_receiver
        self.browsers: dict[str, BrowserKeys] = {}
        token = make_token(server.store_url, "national", ["UA"])
        self.auth = {"Authorization": f"Bearer {token}"}

    def subscribe(self, name: str, *regions: str, lang: str = "uk") -> dict[str, Any]:
        keys = self.browsers.setdefault(name, BrowserKeys())
        answer = httpx.post(
            f"{self.server.url}/api/v1/push/subscriptions",
            json={
                "subscription": keys.subscription(self.rx.url(name)),
                "regions": list(regions),
                "lang": lang,
            },
            timeout=timeout(10),
        )
        assert answer.status_code in (200, 201), answer.text
        found: dict[str, Any] = answer.json()
        return found

    def declare(self, region: str, **fields: Any) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.server.url}/api/v1/alerts",
            json={"regions": [region], **fields},
            headers=self.auth,
            timeout=timeout(10),
        )
        assert answer.status_code == 201, answer.text
        alert: dict[str, Any] = {**answer.json()["alerts"][0], "seq": answer.json()["seq"]}
        return alert

    def write(self, path: str, body: dict[str, Any] | None = None) -> None:
        method = "PATCH" if body else "POST"
        answer = httpx.request(
            method, f"{self.server.url}{path}", json=body, headers=self.auth, timeout=timeout(10)
        )
        assert answer.is_success, answer.text

    def notices(self, name: str, count: int, seconds: float = 15) -> list[dict[str, Any]]:
        """The first `count` messages the push service took for browser `name`, decrypted."""
        deadline = time.monotonic() + timeout(seconds)
        while len(self.rx.taken(name)) < count:
            self.rx.wait(
                name, len(self.rx.received[name]) + 1, max(deadline - time.monotonic(), 0.01)
            )
        return [self.browsers[name].decrypt(r.body) for r in self.rx.taken(name)[:count]]


@pytest.fixture
def world(push_server: ServerProcess, push_receiver: PushReceiver) -> World:
    return World(push_server, push_receiver)


def jwt_claims(authorization: str) -> dict[str, Any]:
    token = authorization.split("t=", 1)[1].split(",", 1)[0]
    payload = token.split(".")[1]
    found: dict[str, Any] = orjson.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return found


def test_an_alert_reaches_the_browsers_that_follow_it_and_so_does_the_all_clear(
    world: World,
) -> None:
    world.subscribe("hromada", SHOSTKA)  # inside Sumy oblast: an oblast alert covers it
    world.subscribe("oblast", SUMY, lang="en")
    world.subscribe("elsewhere", LVIV, lang="fr")
    alert = world.declare(
        SUMY,
        threats=["drones", "ballistic_missiles"],
        message={"uk": "Негайно в укриття!", "en": "Take cover now!"},
    )
    [uk] = world.notices("hromada", 1)
    [en] = world.notices("oblast", 1)
    t_uk = i18n.catalogue("uk")
    assert uk["title"] == "Тривога: Сумська область"
    assert uk["body"].split("\n") == [
        t_uk("threat.air_raid"),
        f"{t_uk('kind.ballistic_missiles')}, {t_uk('kind.drones')}",
        "Негайно в укриття!",
        t_uk("advice.air_raid"),
    ]
    assert en["title"] == "Alert: Sumy Oblast" and "Take cover now!" in en["body"]
    assert uk["tag"] == en["tag"] == alert["id"] and uk["url"] == f"/region/{SUMY}"
    # the message as the push service got it: encrypted, signed with the server's VAPID key
    sent = world.rx.taken("hromada")[0]
    assert sent.headers["content-encoding"] == "aes128gcm" and sent.headers["urgency"] == "high"
    assert int(sent.headers["ttl"]) == 21600
    public_key = httpx.get(f"{world.server.url}/api/v1/push/key").json()["public_key"]
    assert sent.headers["authorization"].endswith(f",k={public_key}")
    assert Vapid02.verify(sent.headers["authorization"])
    claims = jwt_claims(sent.headers["authorization"])
    assert claims["aud"] == world.rx.url("x").split("/push/")[0]
    assert claims["sub"] == "mailto:tryvoha@localhost" and claims["exp"] - time.time() < 86400
    assert b"Sumy" not in sent.body and "Сумська".encode() not in sent.body

    world.write(f"/api/v1/alerts/{alert['id']}/clear")
    cleared = world.notices("hromada", 2)[1]
    assert (cleared["title"], cleared["body"]) == (
        "Відбій: Сумська область",
        "Повітряна тривога: відбій.",
    )
    assert world.notices("oblast", 2)[1]["title"] == "All clear: Sumy Oblast"
    assert world.rx.received["elsewhere"] == []
    assert [n["seq"] for n in world.notices("hromada", 2)] == [alert["seq"], alert["seq"] + 1]


def test_every_event_once_in_order_while_one_push_service_fails_for_a_while(world: World) -> None:
    """The slow browser's push service answers 503, then 429 with Retry-After: its
    notices wait, in order, and arrive once; the other browser is not held up."""
    world.subscribe("slow", LVIV)
    world.subscribe("fast", LVIV)
    world.rx.answer("slow", 503, (429, {"Retry-After": "1"}))
    alert = world.declare(LVIV, level="yellow")
    world.write(f"/api/v1/alerts/{alert['id']}", {"level": "red", "threats": ["drones"]})
    world.write(f"/api/v1/alerts/{alert['id']}/clear")
    seqs = [alert["seq"], alert["seq"] + 1, alert["seq"] + 2]
    fast = world.notices("fast", 3)
    assert [n["seq"] for n in fast] == seqs
    assert [n["type"] for n in fast] == ["alert.declared", "alert.updated", "alert.cleared"]
    slow = world.notices("slow", 3, seconds=30)
    assert [n["seq"] for n in slow] == seqs
    statuses = [r.status for r in world.rx.received["slow"]]
    assert statuses == [503, 429, 201, 201, 201]  # the first twice refused, then each once
    time.sleep(timeout(0.5))
    assert len(world.rx.received["fast"]) == 3  # and nothing more, to anyone
    assert len(world.rx.received["slow"]) == 5


@pytest.mark.parametrize("status", [404, 410])
def test_a_browser_its_push_service_forgot_is_removed(world: World, status: int) -> None:
    world.subscribe("gone", LVIV)
    world.subscribe("here", LVIV)
    world.rx.answer("gone", status)
    alert = world.declare(LVIV)
    world.notices("here", 1)
    world.rx.wait("gone", 1)
    deadline = time.monotonic() + timeout(10)
    while True:  # the subscription is removed
        answer = httpx.request(
            "DELETE",
            f"{world.server.url}/api/v1/push/subscriptions",
            json={"endpoint": world.rx.url("gone")},
        )
        if answer.status_code == 404:
            break
        assert answer.status_code == 204 and time.monotonic() < deadline, answer.text
        time.sleep(0.05)  # pragma: no cover - it was not yet removed: this DELETE did it
    world.write(f"/api/v1/alerts/{alert['id']}/clear")
    world.notices("here", 2)
    assert len(world.rx.received["gone"]) == 1  # nothing more was sent to it


@pytest.mark.slow
def test_a_server_killed_mid_delivery_resumes_from_the_cursor_in_the_store(
    world: World, push_server: ServerProcess
) -> None:
    """kill -9 while one browser's notice is still being refused: after the restart it
    arrives (nothing lost), and what the other browser took is not sent again."""
    world.subscribe("steady", LVIV)
    world.subscribe("late", LVIV)
    world.rx.answer("late", *([503] * 50))
    first = world.declare(LVIV)
    world.notices("steady", 1)
    world.rx.wait("late", 1)
    time.sleep(timeout(1))  # the cursors are recorded within 0.2 s
    push_server.kill()
    with world.rx.lock:
        world.rx.answers["late"].clear()  # its push service is back
    push_server.start()  # the lease of the killed one runs out first (15 s)
    late = world.notices("late", 1, seconds=40)
    assert [n["seq"] for n in late] == [first["seq"]]
    world.write(f"/api/v1/alerts/{first['id']}/clear")
    assert [n["seq"] for n in world.notices("late", 2)] == [first["seq"], first["seq"] + 1]
    assert [n["seq"] for n in world.notices("steady", 2)] == [first["seq"], first["seq"] + 1]
    assert len(world.rx.taken("steady")) == 2  # the first was not sent again


@pytest.mark.slow
def test_on_many_machines_a_writer_delivers_and_an_edge_carries_subscriptions_to_it(
    store_url: str, nats_server: NatsServer, push_receiver: PushReceiver, tmp_path: Path
) -> None:
    """--role writer and --role edge on one store: a subscription made through the edge is
    kept by the writer (the edge's answer is the writer's), the edge's pages and API carry
    the same key, the writer delivers, and the edge never takes the delivery's lease, not
    even when no writer holds it."""
    bus = ["--bus", nats_server.url, "--push-allow-private"]
    writer = ServerProcess(store_url, ["--role", "writer", *bus], cwd=tmp_path)
    writer.start()
    edge = ServerProcess(
        store_url, ["--role", "edge", *bus, "--writer-url", writer.url], cwd=tmp_path
    )
    try:
        edge.start()
        keys = [httpx.get(f"{s.url}/api/v1/push/key").json()["public_key"] for s in (writer, edge)]
        assert keys[0] == keys[1]
        world = World(edge, push_receiver)
        made = world.subscribe("a", SHOSTKA, lang="en")
        assert raw(store_url, "SELECT id, lang FROM push_subscriptions") == [(made["id"], "en")]
        no_lang = {
            "subscription": BrowserKeys().subscription(push_receiver.url("b")),
            "regions": [LVIV],
        }
        french = httpx.post(
            f"{edge.url}/api/v1/push/subscriptions",
            json=no_lang,
            headers={"Accept-Language": "fr-FR,fr;q=0.9"},
            timeout=timeout(10),
        )
        assert french.status_code == 201 and french.json()["lang"] == "fr", french.text
        refused = httpx.post(  # the writer's own refusal, carried back
            f"{edge.url}/api/v1/push/subscriptions",
            json={**no_lang, "regions": ["UA99"]},
            timeout=timeout(10),
        )
        assert refused.status_code == 422 and refused.json()["code"] == "unknown_region"

        alert = world.declare(SUMY)  # through the edge too
        [notice] = world.notices("a", 1)
        assert notice["seq"] == alert["seq"] and notice["title"] == "Alert: Sumy Oblast"
        assert len(raw(store_url, "SELECT holder FROM leases WHERE name = 'push'")) == 1

        gone = httpx.request(
            "DELETE",
            f"{edge.url}/api/v1/push/subscriptions",
            json={"endpoint": push_receiver.url("b")},
            timeout=timeout(10),
        )
        assert gone.status_code == 204, gone.text
        assert len(raw(store_url, "SELECT id FROM push_subscriptions")) == 1

        writer.stop()  # lets go of the lease
        assert raw(store_url, "SELECT holder FROM leases WHERE name = 'push'") == []
        # a process with a keeper asks again every 2 s: an edge has none to ask
        time.sleep(timeout(5))
        assert raw(store_url, "SELECT holder FROM leases WHERE name = 'push'") == []
    finally:
        edge.stop()
        writer.stop()
