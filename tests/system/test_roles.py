"""Roles: a writer and an edge, real processes on one store with a real nats-server. A
write sent to an edge is answered exactly as the writer answers it (status, headers,
body, seq; refusals too); an edge fails over to the next writer and says 503 when none
answers; /healthz, /readyz and /metrics say what a load balancer needs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import KYIV_CITY, LVIV
from tests.support.nats import NatsServer
from tests.support.postgres import free_port
from tests.support.server import ServerProcess, make_token, timeout
from tryvoha.domain.scope import Role

pytestmark = pytest.mark.slow
SKIPPED = {"date"}  # the only header that is the edge's own (Content-Length is recomputed)


@pytest.fixture
def pair(
    store_url: str, nats_server: NatsServer, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    bus = ["--bus", nats_server.url]
    writer = ServerProcess(store_url, ["--role", "writer", *bus], cwd=tmp_path)
    writer.start()
    edge = ServerProcess(
        store_url, ["--role", "edge", *bus, "--writer-url", writer.url], cwd=tmp_path
    )
    try:
        edge.start()
        yield writer, edge
    finally:
        edge.stop()
        writer.stop()


def parts(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in SKIPPED)
    return response.status_code, headers, response.content


def test_a_write_through_an_edge_is_answered_as_the_writer_answers_it(
    pair: tuple[ServerProcess, ServerProcess], store_url: str
) -> None:
    writer, edge = pair
    national = make_token(store_url, "national", ["UA"])
    lviv = make_token(store_url, "lviv", ["Lviv"])

    def post(
        url: str, path: str, token: str, key: str | None, json: object = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return httpx.post(url + path, json=json, headers=headers, timeout=timeout(10))

    declare = {"regions": [LVIV], "threats": ["drones"]}
    first = post(edge.url, "/api/v1/alerts", national, "k1", declare)
    assert first.status_code == 201 and first.json()["seq"] == 1
    # the same key to the writer itself, then through the edge: the one stored answer
    direct = post(writer.url, "/api/v1/alerts", national, "k1", declare)
    forwarded = post(edge.url, "/api/v1/alerts", national, "k1", declare)
    assert direct.headers["idempotent-replayed"] == "true"
    assert parts(forwarded) == parts(direct)
    assert forwarded.content == first.content
    # refusals the writer makes come back as it made them
    for path, token, key, body in [
        ("/api/v1/alerts", national, "k1", {"regions": [KYIV_CITY]}),  # key reused: 422
        ("/api/v1/alerts", lviv, None, {"regions": [KYIV_CITY]}),  # out of scope: 403
        ("/api/v1/alerts", "tv_not-a-token", None, declare),  # 401
        ("/api/v1/alerts/01h0000000000000000000000/clear", national, None, None),  # 404
        (f"/api/v1/regions/{KYIV_CITY}/clear", national, None, None),  # nothing active: 409
    ]:
        direct = post(writer.url, path, token, key, body)
        forwarded = post(edge.url, path, token, key, body)
        assert direct.status_code >= 400, direct.text
        assert parts(forwarded) == parts(direct), path
    # the edge serves what the writer wrote, from its own projection
    active = httpx.get(f"{edge.url}/api/v1/alerts/active", timeout=timeout(10)).json()
    assert [a["region_id"] for a in active["alerts"]] == [LVIV]


def test_an_edge_fails_over_to_the_next_writer_and_says_503_when_none_answers(
    store_url: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    bus = ["--bus", nats_server.url]
    writer = ServerProcess(store_url, ["--role", "writer", *bus], cwd=tmp_path)
    writer.start()
    nobody = f"http://127.0.0.1:{free_port()}"  # no writer listens there
    edge = ServerProcess(
        store_url,
        ["--role", "edge", *bus, "--writer-url", f"{nobody},{writer.url}"],
        cwd=tmp_path,
    )
    edge.start()
    try:
        token = make_token(store_url, "national", ["UA"])
        auth = {"Authorization": f"Bearer {token}"}
        made = httpx.post(
            f"{edge.url}/api/v1/alerts", json={"regions": [LVIV]}, headers=auth, timeout=timeout(10)
        )
        assert made.status_code == 201, made.text
        metrics = httpx.get(f"{edge.url}/metrics", timeout=timeout(10)).text
        assert "tryvoha_writer_failovers_total 1" in metrics
        assert "tryvoha_forwarded_writes_total 1" in metrics
        writer.stop()
        refused = httpx.post(
            f"{edge.url}/api/v1/alerts",
            json={"regions": [KYIV_CITY]},
            headers=auth,
            timeout=timeout(10),
        )
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "writer_unavailable"
        # reads go on: the edge holds the state in memory
        active = httpx.get(f"{edge.url}/api/v1/alerts/active", timeout=timeout(10)).json()
        assert [a["region_id"] for a in active["alerts"]] == [LVIV]
    finally:
        edge.stop()
        writer.stop()


def test_health_readiness_and_metrics(pair: tuple[ServerProcess, ServerProcess]) -> None:
    writer, edge = pair
    for server, role, why in (
        (writer, "writer", "the store takes writes"),
        (edge, "edge", "caught up"),
    ):
        assert httpx.get(f"{server.url}/healthz", timeout=timeout(10)).text == "ok\n"
        ready = httpx.get(f"{server.url}/readyz", timeout=timeout(10))
        assert ready.status_code == 200 and why in ready.text and f"role {role}" in ready.text
        metrics = httpx.get(f"{server.url}/metrics", timeout=timeout(10)).text
        assert f'tryvoha_info{{role="{role}",bus="nats"}} 1' in metrics
        assert "tryvoha_ready 1" in metrics and "tryvoha_bus_lag_events 0" in metrics
        health = httpx.get(f"{server.url}/api/v1/health", timeout=timeout(10)).json()
        assert health["role"] == role and health["bus"]["kind"] == "nats"
    assert "tryvoha_bus_unpublished_events 0" in httpx.get(f"{writer.url}/metrics").text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--role", "edge", "--bus", "nats://127.0.0.1:4222"], "role edge needs --writer-url"),
        (["--role", "writer"], "role writer needs --bus nats://"),
        (["--writer-url", "http://w:8000"], "--writer-url is for edges"),
        (["--role", "edge", "--bus", "http://x", "--writer-url", "http://w"], "nats://"),
        (["--role", "boss"], "--role (TRYVOHA_ROLE): 'boss'"),
    ],
)
def test_serve_refuses_a_role_without_what_it_needs_with_one_line(
    args: list[str], says: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tryvoha", "serve", "--store", f"sqlite:///{tmp_path}/t.db", *args],
        capture_output=True,
        text=True,
        timeout=timeout(60),
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], done.stderr


def test_a_held_declare_is_asked_and_confirmed_through_an_edge(
    store_url: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    """The two-person rule on many machines: the edge carries the declare and its
    confirmation to the writer (a confirm writes the log, which only a writer does)."""
    bus = ["--bus", nats_server.url]
    writer = ServerProcess(
        store_url, ["--role", "writer", *bus, "--confirm-over", "1"], cwd=tmp_path
    )
    writer.start()
    edge = ServerProcess(
        store_url, ["--role", "edge", *bus, "--writer-url", writer.url], cwd=tmp_path
    )
    try:
        edge.start()
        asker = make_token(store_url, "national", ["UA"], Role.ADMIN)
        deputy = make_token(store_url, "deputy", ["UA"], Role.ADMIN)
        held = httpx.post(
            f"{edge.url}/api/v1/alerts",
            json={"regions": [LVIV, KYIV_CITY]},
            headers={"Authorization": f"Bearer {asker}"},
            timeout=timeout(10),
        )
        assert held.status_code == 202, held.text
        pending_id = held.json()["pending"]["id"]
        confirmed = httpx.post(
            f"{edge.url}/api/v1/pending/{pending_id}/confirm",
            headers={"Authorization": f"Bearer {deputy}"},
            timeout=timeout(10),
        )
        assert confirmed.status_code == 201, confirmed.text
        seq = confirmed.json()["seq"]
        deadline = time.monotonic() + timeout(5)
        while httpx.get(f"{edge.url}/api/v1/state").json()["seq"] < seq:
            assert time.monotonic() < deadline, "the edge never saw the confirmed declare"
            time.sleep(0.05)
        again = httpx.post(
            f"{edge.url}/api/v1/pending/{pending_id}/confirm",
            headers={"Authorization": f"Bearer {deputy}"},
            timeout=timeout(10),
        )
        assert (again.status_code, again.json()["code"]) == (409, "pending_decided")
    finally:
        edge.stop()
        writer.stop()
