"""`tryvoha migrate-store`: a one-box SQLite log moved to PostgreSQL (and back), checked:
every event keeps its seq and its bytes, tokens keep working, the epoch (and so every ETag
and cursor) stays, and a server on the new store serves what the old one served."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import LVIV
from tests.support.log import raw
from tests.support.postgres import Cluster
from tests.support.server import ServerProcess, make_token
from tests.system.test_cli import assert_one_line_error, tryvoha

pytestmark = pytest.mark.slow


def rows(url: str, table: str, order: str) -> list[tuple[object, ...]]:
    return raw(url, f"SELECT * FROM {table} ORDER BY {order}")


def test_a_sqlite_log_moves_to_postgresql_and_back_unchanged(
    postgres: Cluster, tmp_path: Path
) -> None:
    source = f"sqlite:///{tmp_path / 'one-box.db'}"
    server = ServerProcess(source, cwd=tmp_path)
    server.start()
    token = make_token(source, "lviv", ["Lviv"])
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth) as client:
        for n in range(3):
            declared = client.post(
                "/api/v1/alerts", json={"regions": [LVIV]}, headers={"Idempotency-Key": f"k{n}"}
            )
            assert declared.status_code == 201, declared.text
            client.post(f"/api/v1/alerts/{declared.json()['alerts'][0]['id']}/clear")
        client.post("/api/v1/alerts", json={"regions": [LVIV], "threats": ["drones"]})
        before = httpx.get(f"{server.url}/api/v1/alerts/active")
    server.stop()
    imported = tryvoha("import-history", "--store", source)  # and the whole shipped record
    assert imported.returncode == 0, imported.stderr

    target = postgres.create_database()  # brand new: the move makes its schema
    moved = tryvoha("migrate-store", source, target)
    assert moved.returncode == 0, moved.stderr
    assert "every row checked" in moved.stdout and "events/s" in moved.stdout
    assert "***" in moved.stdout and postgres.url().split(":")[2].split("@")[0] not in moved.stdout
    for table, order in (("events", "seq"), ("alerts", "id"), ("tokens", "id"), ("audit", "id")):
        assert rows(target, table, order) == rows(source, table, order), table
    assert rows(target, "idempotency", "key") == rows(source, "idempotency", "key")

    on_postgres = ServerProcess(target, cwd=tmp_path)
    on_postgres.start()
    try:
        after = httpx.get(f"{on_postgres.url}/api/v1/alerts/active")
        assert after.json() == {**before.json(), "seq": after.json()["seq"]}
        etag = after.headers["etag"]
        # the same log: the epoch went with it, so ETags and Last-Event-IDs stay good
        assert etag.split(".")[0] == before.headers["etag"].split(".")[0]
        with httpx.Client(base_url=on_postgres.url, headers=auth) as client:
            again = client.post(
                "/api/v1/alerts", json={"regions": [LVIV]}, headers={"Idempotency-Key": "k0"}
            )  # a retry of a request answered before the move: the same answer, no new alert
            assert again.status_code == 201 and again.json()["seq"] == 1
            fresh = client.post(f"/api/v1/regions/{LVIV}/clear")
            assert fresh.status_code == 200, fresh.text  # the token works; seq carries on
            assert fresh.json()["seq"] == len(rows(source, "events", "seq")) + 1
    finally:
        on_postgres.stop()

    assert_one_line_error(tryvoha("migrate-store", source, target), "empty store only")
    assert_one_line_error(
        tryvoha("migrate-store", f"sqlite:///{tmp_path / 'typo.db'}", target), "no such file"
    )
    back = f"sqlite:///{tmp_path / 'back.db'}"
    assert tryvoha("migrate-store", target, back).returncode == 0
    assert rows(back, "events", "seq") == rows(target, "events", "seq")
