"""Webhooks that never lose an alert, against a real `tryvoha serve` and a real receiver
on loopback that verifies every signature with the `standardwebhooks` package.

The receiver fails with 500s, answers too late, refuses connections for a while and comes
back; tryvoha is killed with SIGKILL while it delivers. After all that every event arrives,
in order, exactly once after deduplication by webhook-id.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import KHARKIV, LVIV
from tests.support.log import raw
from tests.support.postgres import run_sync
from tests.support.server import ServerProcess, make_token, timeout
from tests.support.webhooks import Receiver, clear_of, declare_events
from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.scope import Role
from tryvoha.store import open_store

pytestmark = pytest.mark.slow

# long enough to ride out each outage below; the tests never wait for its end
RIDE_OUT = "0.2s,0.5s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s"
SHORT = "0.2s,0.5s,1s"


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + timeout(seconds)
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.05)


class Admin:
    """An admin's HTTP client on a running server."""

    def __init__(self, server: ServerProcess, token: str) -> None:
        self.server = server
        self.token = token

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(
            method, self.server.url + path, headers=headers, timeout=timeout(30), **kwargs
        )

    def subscribe(self, receiver: Receiver, **body: Any) -> str:
        made = self("POST", "/api/v1/webhooks", json={"url": receiver.url, **body})
        assert made.status_code == 201, made.text
        receiver.secret = made.json()["secret"]
        return str(made.json()["id"])

    def hook(self, webhook_id: str) -> dict[str, Any]:
        shown = self("GET", f"/api/v1/webhooks/{webhook_id}")
        assert shown.status_code == 200, shown.text
        data: dict[str, Any] = shown.json()
        return data

    def declare(self, region: str = LVIV, threat: str = "air_raid") -> list[int]:
        """Declare and clear: two events; their seqs."""
        made = self(
            "POST",
            "/api/v1/alerts",
            json={"regions": [region], "threat": threat},
            headers={"Idempotency-Key": f"d-{time.time_ns()}"},
        )
        assert made.status_code == 201, made.text
        alert = made.json()["alerts"][0]["id"]
        cleared = self(
            "POST", f"/api/v1/alerts/{alert}/clear", headers={"Idempotency-Key": f"c-{alert}"}
        )
        assert cleared.status_code == 200, cleared.text
        return [int(made.json()["seq"]), int(cleared.json()["seq"])]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def serve(store_url: str, tmp_path: Path, schedule: str) -> ServerProcess:
    return ServerProcess(
        store_url,
        args=[
            "--webhooks-allow-private",
            "--webhook-retry-schedule",
            schedule,
            "--webhook-timeout-seconds",
            "0.5",
            "--webhook-lease-seconds",
            "2",
        ],
        cwd=tmp_path,
    )


def test_every_event_arrives_in_order_once_through_outages_and_a_kill(
    store_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    server = serve(store_url, tmp_path, RIDE_OUT)
    server.start()
    admin = Admin(server, make_token(store_url, "root", ["UA"], Role.ADMIN))
    try:
        hook = admin.subscribe(receiver)
        expected = admin.declare() + admin.declare()
        wait_until(lambda: receiver.first_seen() == expected, 20, "the first events")

        receiver.mode = "fail"  # 500s
        before = receiver.requests
        expected += admin.declare()
        wait_until(lambda: receiver.requests >= before + 3, 20, "retries after 500s")
        assert "HTTP 500" in (admin.hook(hook)["last_error"] or "")
        receiver.mode = "slow"  # answers after the sender gave up (0.5 s)
        before = receiver.requests
        expected += admin.declare()
        wait_until(lambda: receiver.requests >= before + 2, 20, "retries after timeouts")
        receiver.mode = "ok"
        receiver.stop()  # connections refused
        expected += admin.declare()
        time.sleep(1.5)
        assert "ConnectError" in (admin.hook(hook)["last_error"] or "")
        receiver.start()  # back, on the same port
        wait_until(lambda: receiver.first_seen() == expected, 30, "every event after the outages")

        # SIGKILL while it delivers: some events acknowledged but not yet recorded
        settled = len(expected)
        receiver.delay_seconds = 0.1  # 20 events: 2 s of delivery
        for _ in range(10):
            expected += admin.declare()
        wait_until(lambda: len(receiver.first_seen()) >= settled + 3, 20, "delivery")
        server.kill()
        at_kill = len(receiver.first_seen())
        assert at_kill < len(expected), "the kill came after the delivery: no test"
        receiver.delay_seconds = 0.0
        heard = len(receiver.received)
        server.start()
        admin.server = server
        wait_until(lambda: receiver.first_seen() == expected, 40, "every event after the kill")
        # what was recorded before the kill is not sent again: only the last moments are
        again = [r.seq for r in receiver.received[heard:]]
        assert min(again) > expected[settled - 1], again

        assert receiver.bad_signatures == []
        assert all(len(ids) == 1 for ids in receiver.ids().values())  # one id per event, always
        wait_until(lambda: admin.hook(hook)["waiting"] == 0, 5, "the cursor recorded")
        shown = admin.hook(hook)
        assert (shown["state"], shown["cursor"]) == ("active", expected[-1])
        assert shown["last_delivered_seq"] == expected[-1]
    finally:
        server.stop()


def cli(server: ServerProcess, token: str, *args: str) -> str:
    from tests.system.test_cli import tryvoha

    done = tryvoha("webhook", *args, env={"TRYVOHA_URL": server.url, "TRYVOHA_TOKEN": token})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_gone_disables_suspended_resumes_and_replay_resends_with_the_same_ids(
    store_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    server = serve(store_url, tmp_path, SHORT)
    server.start()
    token = make_token(store_url, "root", ["UA"], Role.ADMIN)
    admin = Admin(server, token)
    try:
        added = cli(server, token, "add", receiver.url, "--description", "newsroom")
        receiver.secret = added.strip().splitlines()[-1]
        hook = next(w["id"] for w in admin("GET", "/api/v1/webhooks").json()["webhooks"])
        assert receiver.secret.startswith("whsec_")

        # suspended after the last retry: events wait, none dropped
        receiver.mode = "fail"
        expected = admin.declare()
        wait_until(lambda: admin.hook(hook)["state"] == "suspended", 20, "suspension")
        attempts = admin.hook(hook)["attempts"]
        assert len(attempts) == 4 and {a["status"] for a in attempts} == {500}
        expected += admin.declare()
        assert admin.hook(hook)["waiting"] == 4
        assert "suspended" in cli(server, token, "list")
        receiver.mode = "ok"
        assert "active" in cli(server, token, "resume", hook)
        wait_until(lambda: receiver.first_seen() == expected, 20, "everything after resume")

        # replay from the second event: the same ids again
        first_ids = receiver.ids()
        cli(server, token, "replay", hook, "--from-seq", str(expected[1]))
        wait_until(lambda: receiver.count(expected[-1]) == 2, 20, "the replay")
        assert receiver.ids() == first_ids
        assert [r.seq for r in receiver.received] == expected + expected[1:]

        # 410 disables; resume sends what waited
        receiver.mode = "gone"
        expected += admin.declare()
        wait_until(lambda: admin.hook(hook)["state"] == "disabled", 20, "disabled by 410")
        assert "410" in admin.hook(hook)["last_error"]
        assert receiver.first_seen() == expected[:-2]
        receiver.mode = "ok"
        cli(server, token, "resume", hook)
        wait_until(lambda: receiver.first_seen() == expected, 20, "everything after 410")
        assert f"{expected[-1]}" in cli(server, token, "show", hook)

        cli(server, token, "remove", hook)
        admin.declare()
        time.sleep(1.0)
        assert receiver.first_seen() == expected
        assert receiver.bad_signatures == []
    finally:
        server.stop()


def test_filters_and_history_imports(store_url: str, tmp_path: Path) -> None:
    everything, kharkiv = Receiver().start(), Receiver().start()
    server = serve(store_url, tmp_path, SHORT)
    server.start()
    admin = Admin(server, make_token(store_url, "root", ["UA"], Role.ADMIN))
    try:
        admin.subscribe(everything)
        admin.subscribe(kharkiv, regions=[KHARKIV], threats=["artillery_shelling"])
        lviv = admin.declare(LVIV, "air_raid")
        shelled = admin.declare(KHARKIV, "artillery_shelling")
        raid = admin.declare(KHARKIV, "air_raid")

        async def imported() -> None:  # a record of 2022, written beside the server
            store = open_store(store_url)
            await store.open()
            try:
                old = declare_events(
                    1, KHARKIV, ThreatType.ARTILLERY_SHELLING, issuer="history:official"
                )[0]
                await store.append_batch([old, clear_of(old)])
            finally:
                await store.close()

        run_sync(imported())
        after = admin.declare(LVIV, "air_raid")
        wait_until(lambda: everything.first_seen() == lviv + shelled + raid + after, 20, "all")
        wait_until(lambda: kharkiv.first_seen() == shelled, 20, "kharkiv shelling")
        time.sleep(0.5)
        assert kharkiv.first_seen() == shelled
        assert everything.bad_signatures == kharkiv.bad_signatures == []
    finally:
        server.stop()
        everything.stop()
        kharkiv.stop()


def test_a_redirect_is_a_failed_attempt_never_followed(store_url: str, tmp_path: Path) -> None:
    """A 3xx is not a delivery, and its Location is not asked: a redirect cannot aim the
    server past the safe-target check (at an address of its own network)."""
    asked, elsewhere = Receiver().start(), Receiver().start()
    asked.mode, asked.redirect_to = "redirect", elsewhere.url
    server = serve(store_url, tmp_path, SHORT)
    server.start()
    admin = Admin(server, make_token(store_url, "root", ["UA"], Role.ADMIN))
    try:
        webhook_id = admin.subscribe(asked)
        admin.declare(LVIV, "air_raid")
        wait_until(lambda: asked.requests >= 2, 20, "a retry after the redirect")
        assert elsewhere.requests == 0
        shown = admin.hook(webhook_id)
        assert shown["last_delivered_seq"] in (None, 0), shown
        assert "307" in str(shown["last_error"]), shown
    finally:
        server.stop()
        asked.stop()
        elsewhere.stop()


def test_with_several_processes_one_delivers_each_event_once(
    store_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """--workers 3: every process serves declares and watches the subscriptions; only
    the lease holder delivers, so nothing arrives twice; when it is killed another takes
    over and nothing is lost."""
    server = serve(store_url, tmp_path, SHORT)
    server.args += ["--workers", "3"]
    server.start()
    admin = Admin(server, make_token(store_url, "root", ["UA"], Role.ADMIN))
    try:
        admin.subscribe(receiver)
        expected: list[int] = []
        for _ in range(15):  # new connections: the kernel spreads them over the processes
            expected += admin.declare()
        wait_until(lambda: receiver.first_seen() == expected, 30, "every event")
        time.sleep(0.5)
        assert [r.seq for r in receiver.received] == expected  # none twice

        holder = raw(store_url, "SELECT holder FROM leases WHERE name = 'webhooks'")[0][0]
        os.kill(int(holder.split(":")[1]), signal.SIGKILL)  # the delivering process
        for _ in range(5):
            expected += admin.declare()
        wait_until(lambda: receiver.first_seen() == expected, 30, "every event after failover")
        taken = raw(store_url, "SELECT holder FROM leases WHERE name = 'webhooks'")[0][0]
        assert taken != holder
        assert receiver.bad_signatures == []
    finally:
        server.stop()


def test_the_cli_says_what_is_wrong_in_one_line(server: ServerProcess, store_url: str) -> None:
    from tests.system.test_cli import assert_one_line_error, tryvoha

    admin = make_token(store_url, "root", ["UA"], Role.ADMIN)
    issuer = make_token(store_url, "lviv", ["Lviv"])

    def run(token: str, *args: str) -> Any:
        return tryvoha("webhook", *args, env={"TRYVOHA_URL": server.url, "TRYVOHA_TOKEN": token})

    assert_one_line_error(run(admin, "add", "http://127.0.0.1:9/x"), "not a public address", "422")
    assert_one_line_error(run(admin, "add", "ftp://example.org/x"), "only http", "422")
    assert_one_line_error(run(issuer, "list"), "not an admin token", "403")
    assert_one_line_error(run(admin, "show", "wh_nope"), "no webhook has the id", "404")
    assert_one_line_error(run(admin, "add", "https://x.org/", "--threat", "drones"), "--threat")
    assert_one_line_error(run(admin, "add", "https://x.org/", "--region", "Atlantis"), "--region")
    listed = run(admin, "list")
    assert listed.returncode == 0 and "wh_" not in listed.stdout  # nothing was made
