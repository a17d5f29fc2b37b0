"""Tokens that end and change (issue 15, items 2 and 6): a revoked token stops working at
once, everywhere; a token can expire; a rotation keeps the old secret working for an
overlap only; when a token was last used is kept; refused writes are in the audit log,
which has an API and a command."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from tests.conftest import KYIV_CITY, LVIV
from tests.support.server import ServerProcess, make_token, timeout
from tryvoha.domain.scope import Role


def tryvoha(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tryvoha", *args],
        capture_output=True,
        text=True,
        timeout=timeout(60),
        env={**os.environ, "COLUMNS": "250"},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_revoked_token_stops_working_at_once(server: ServerProcess, store_url: str) -> None:
    issuer = make_token(store_url, "lviv", [LVIV])
    reader = make_token(store_url, "led", [], Role.READER)
    iot = f"{server.url}/v1/iot/active_air_raid_alerts_by_oblast.json?token={reader}"
    with httpx.Client() as client:
        assert client.get(f"{server.url}/api/v1/me", headers=bearer(issuer)).status_code == 200
        assert client.get(iot).status_code == 200  # now remembered by the server
        assert tryvoha("token", "revoke", "lviv", "--store", store_url).returncode == 0
        assert tryvoha("token", "revoke", "led", "--store", store_url).returncode == 0
        me = client.get(f"{server.url}/api/v1/me", headers=bearer(issuer))
        assert me.status_code == 401 and "revoked" in me.json()["detail"]
        deadline = time.monotonic() + timeout(1.0)  # what was remembered is forgotten
        while client.get(iot).status_code == 200:
            assert time.monotonic() < deadline, "a revoked key still works"
            time.sleep(0.05)
        assert client.get(iot).status_code == 401


def test_a_token_can_expire(server: ServerProcess, store_url: str) -> None:
    made = tryvoha(
        "token",
        "create",
        "--name",
        "short",
        "--scope",
        "Lviv",
        "--expires",
        "2s",
        "--store",
        store_url,
    )
    assert made.returncode == 0 and "works until" in made.stdout, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    with httpx.Client(base_url=server.url, headers=bearer(token)) as client:
        assert client.post("/api/v1/alerts", json={"regions": [LVIV]}).status_code == 201
        time.sleep(2.2)
        late = client.post("/api/v1/regions/UA46000000000026241/clear")
        assert late.status_code == 401 and "expired" in late.json()["detail"]
        assert client.get("/api/v1/me").status_code == 401
    bad = tryvoha(
        "token", "create", "--name", "x", "--scope", "UA", "--expires", "soon", "--store", store_url
    )
    assert bad.returncode != 0 and "--expires" in bad.stderr and "Traceback" not in bad.stderr


def test_a_rotation_keeps_the_old_secret_for_the_overlap_only(
    server: ServerProcess, store_url: str
) -> None:
    old = make_token(store_url, "duty", ["UA"])
    rotated = tryvoha("token", "rotate", "duty", "--overlap", "2s", "--store", store_url)
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip().splitlines()[-1]
    assert new != old and new.startswith("tv_")
    with httpx.Client(base_url=server.url) as client:
        for secret in (old, new):  # both, during the overlap
            me = client.get("/api/v1/me", headers=bearer(secret))
            assert me.status_code == 200 and me.json()["name"] == "duty"
        time.sleep(2.2)
        assert client.get("/api/v1/me", headers=bearer(old)).status_code == 401
        declared = client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=bearer(new))
        assert declared.status_code == 201
    listed = tryvoha("token", "list", "--store", store_url)
    row = next(line for line in listed.stdout.splitlines() if "duty" in line)
    assert row.count("UTC") >= 2, row  # created, and last used
    unknown = tryvoha("token", "rotate", "nobody", "--store", store_url)
    assert unknown.returncode != 0 and "nobody" in unknown.stderr


def test_refused_writes_are_in_the_audit_log_and_its_api_and_command(
    server: ServerProcess, store_url: str
) -> None:
    lviv = make_token(store_url, "lviv", [LVIV])
    admin = make_token(store_url, "root", ["UA"], Role.ADMIN)
    with httpx.Client(base_url=server.url) as client:
        refused = client.post("/api/v1/alerts", json={"regions": [KYIV_CITY]}, headers=bearer(lviv))
        assert refused.status_code == 403
        forged = client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=bearer("tv_nope"))
        assert forged.status_code == 401
        assert (
            client.post(
                "/api/v1/alerts", json={"regions": [LVIV]}, headers=bearer(lviv)
            ).status_code
            == 201
        )
        denied = client.get(
            "/api/v1/audit", params={"denied": "true", "token": "lviv"}, headers=bearer(admin)
        ).json()["entries"]
        assert [e["outcome"] for e in denied] == ["denied"] and "UA80" in denied[0]["detail"]
        everything = client.get("/api/v1/audit", headers=bearer(admin)).json()["entries"]
        actors = {e["actor"] for e in everything if e["outcome"] == "denied"}
        assert "lviv" in actors and any(a.startswith("unknown:") for a in actors)
        assert "tv_nope" not in str(everything)  # never the secret
        since = client.get(
            "/api/v1/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=bearer(admin)
        ).json()["entries"]
        assert since == []
        assert client.get("/api/v1/audit", headers=bearer(lviv)).status_code == 403
    shown = tryvoha("audit", "--denied", "--token", "lviv", "--store", store_url)
    assert shown.returncode == 0 and "denied" in shown.stdout and "lviv" in shown.stdout
    bad = tryvoha("audit", "--since", "yesterday-ish", "--store", store_url)
    assert bad.returncode != 0 and "--since" in bad.stderr
