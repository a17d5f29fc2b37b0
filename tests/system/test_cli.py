"""The CLI against a real server: tokens on a live store, declare by name, status, tail,
clear, and one clear line (never a traceback) for every mistake."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import orjson

from tests.conftest import KYIV_CITY, LVIV
from tests.support.log import UNDO_TO_0001, raw
from tests.support.server import ServerProcess, timeout
from tryvoha.store.schema import HEAD


def tryvoha(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tryvoha", *args],
        capture_output=True,
        text=True,
        timeout=timeout(60),
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip()
    assert message.startswith("error:"), message
    for word in words:
        assert word in message, message


def test_an_issuer_session_from_the_command_line(server: ServerProcess, store_url: str) -> None:
    created = tryvoha(
        "token", "create", "--name", "lviv-duty", "--scope", "Lviv", "--store", store_url
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("tv_") and len(token) > 40
    listed = tryvoha("token", "list", "--store", store_url)
    assert "lviv-duty" in listed.stdout and token not in listed.stdout

    env = {"TRYVOHA_URL": server.url, "TRYVOHA_TOKEN": token}
    tail = subprocess.Popen(
        [sys.executable, "-m", "tryvoha", "tail", "--json", "--after", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        declared = tryvoha(
            "declare",
            "--region",
            "Львівська",
            "--threats",
            "ballistic_missiles",
            "--message-en",
            "Shelter now",
            env=env,
        )
        assert declared.returncode == 0, declared.stderr
        assert "Lviv Oblast" in declared.stdout and "seq 1" in declared.stdout
        status = tryvoha("status", env=env)
        assert "1 active alerts" in status.stdout and "ballistic_missiles" in status.stdout
        cleared = tryvoha("clear", "--region", LVIV, env=env)
        assert cleared.returncode == 0 and "seq 2" in cleared.stdout
        assert tail.stdout is not None
        lines = [orjson.loads(tail.stdout.readline()) for _ in range(2)]
        assert [e["type"] for e in lines] == ["alert.declared", "alert.cleared"]
        assert lines[0]["alert"]["message"]["en"] == "Shelter now"
    finally:
        tail.terminate()
        tail.communicate(timeout=timeout(10))

    # mistakes: one clear line each, nothing written
    assert_one_line_error(
        tryvoha("declare", "--region", "Atlantis", env=env), "--region", "Atlantis"
    )
    assert_one_line_error(
        tryvoha("declare", "--region", KYIV_CITY, env=env), "outside its scope", "403"
    )
    assert_one_line_error(
        tryvoha("declare", "--region", "Lviv", "--threats", "asteroids", env=env), "--threats"
    )
    assert_one_line_error(tryvoha("clear", "--alert", "nope", env=env), "no alert", "404")
    assert_one_line_error(tryvoha("clear", env=env), "--alert", "--region")
    assert_one_line_error(
        tryvoha("declare", "--region", "Lviv", env={**env, "TRYVOHA_TOKEN": "tv_bad"}), "not known"
    )
    assert_one_line_error(tryvoha("status", "--url", "http://127.0.0.1:9"), "cannot reach")
    assert_one_line_error(
        tryvoha("token", "create", "--name", "x", "--scope", "Atlantis", "--store", store_url),
        "--scope",
    )
    assert_one_line_error(
        tryvoha("token", "create", "--name", "lviv-duty", "--scope", "UA", "--store", store_url),
        "exists",
    )
    assert_one_line_error(tryvoha("token", "revoke", "nobody", "--store", store_url), "nobody")
    assert httpx.get(f"{server.url}/api/v1/alerts/active").json()["seq"] == 2

    revoked = tryvoha("token", "revoke", "lviv-duty", "--store", store_url)
    assert revoked.returncode == 0
    assert_one_line_error(tryvoha("declare", "--region", "Lviv", env=env), "revoked")


def test_serve_refuses_a_bad_store_or_busy_port_with_one_line(
    server: ServerProcess, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 200)
    started = time.monotonic()
    assert_one_line_error(
        tryvoha("serve", "--port", "0", "--store", f"sqlite:///{junk}"), "cannot open"
    )
    assert_one_line_error(tryvoha("serve", "--port", "0", "--store", "mysql://x"), "unknown store")
    nowhere = tryvoha("serve", "--port", "0", "--store", "postgresql://u:secret@127.0.0.1:1/db")
    assert_one_line_error(nowhere, "cannot connect", "postgresql://u:***@127.0.0.1:1/db")
    assert "secret" not in nowhere.stderr
    busy = tryvoha("serve", "--port", str(server.port), "--store", f"sqlite:///{tmp_path / 'b.db'}")
    assert_one_line_error(busy, "cannot listen")
    for bad in ("0", "65", "many"):
        assert_one_line_error(tryvoha("serve", "--port", "0", "--workers", bad), "--workers")
    # a bad variable is named as the variable and the flag that would override it
    bad_env = tryvoha("serve", "--port", "0", env={"TRYVOHA_LOG_LEVEL": "loud"})
    assert_one_line_error(bad_env, "--log-level", "TRYVOHA_LOG_LEVEL", "'loud'")
    assert time.monotonic() - started < timeout(30)


def test_a_reader_token_from_the_command_line_reads_and_cannot_write(
    server: ServerProcess, store_url: str
) -> None:
    created = tryvoha(
        "token", "create", "--name", "led-map", "--role", "reader", "--store", store_url
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert "reading" in created.stdout
    assert_one_line_error(
        tryvoha("token", "create", "--name", "duty", "--store", store_url), "scope"
    )
    assert_one_line_error(
        tryvoha("serve", "--port", "0", "--ukrainealarm-rate-limit", "lots"),
        "--ukrainealarm-rate-limit",
        "12/min",
    )
    iot = httpx.get(
        f"{server.url}/v1/iot/active_air_raid_alerts_by_oblast.json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert iot.status_code == 200 and iot.json() == "N" * 27
    refused = tryvoha(
        "declare", "--region", "Lviv", env={"TRYVOHA_URL": server.url, "TRYVOHA_TOKEN": key}
    )
    assert_one_line_error(refused, "reader", "403")
    listed = tryvoha("token", "list", "--store", store_url)
    assert "led-map" in listed.stdout and "reader" in listed.stdout


def test_serve_refuses_an_older_or_newer_schema_until_db_upgrade(store_url: str) -> None:
    created = tryvoha("db", "upgrade", "--store", store_url)
    assert created.returncode == 0 and HEAD in created.stdout, created.stdout
    raw(store_url, "UPDATE alembic_version SET version_num = 'ffff'")
    assert_one_line_error(
        tryvoha("serve", "--port", "0", "--store", store_url), "newer", "upgrade tryvoha"
    )
    assert_one_line_error(tryvoha("db", "upgrade", "--store", store_url), "newer")
    for undo in UNDO_TO_0001:
        raw(store_url, undo)  # back to how revision 0001 left it
    raw(store_url, "UPDATE alembic_version SET version_num = '0001'")
    assert_one_line_error(
        tryvoha("serve", "--port", "0", "--store", store_url),
        "schema 0001, older",
        "tryvoha db upgrade --store",
    )
    status = tryvoha("db", "status", "--store", store_url)
    assert f"schema 0001 (older than {HEAD}: run tryvoha db upgrade)" in status.stdout
    upgraded = tryvoha("db", "upgrade", "--store", store_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "applying 0002" in upgraded.stdout and f"0001 → {HEAD}" in upgraded.stdout
    again = tryvoha("db", "upgrade", "--store", store_url)
    assert f"schema {HEAD}, up to date" in again.stdout
    assert "(current)" in tryvoha("db", "status", "--store", store_url).stdout
