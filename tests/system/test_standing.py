"""`tryvoha serve` on a fresh store declares the standing alerts, once; the flag (or its
variable) turns that off."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.server import ServerProcess, timeout


def active(url: str) -> dict[str, object]:
    found: dict[str, object] = httpx.get(f"{url}/api/v1/alerts/active", timeout=timeout(10)).json()
    return found


def test_a_fresh_install_has_them_once(store_url: str, tmp_path: Path) -> None:
    server = ServerProcess(store_url, cwd=tmp_path, standing=True)
    server.start()
    try:
        first = active(server.url)
        alerts = first["alerts"]
        assert isinstance(alerts, list)
        assert sorted((a["region_id"], a["started_at"]) for a in alerts) == [
            ("UA01000000000013043", "2022-12-10T22:22:00.000Z"),
            ("UA44000000000018893", "2022-04-04T16:45:00.000Z"),
        ]
        assert {a["issuer"] for a in alerts} == {"standing:record"}
        server.stop()
        server.start()
        assert active(server.url)["seq"] == first["seq"]  # not declared again
    finally:
        server.stop()


def test_the_flag_turns_them_off(store_url: str, tmp_path: Path) -> None:
    server = ServerProcess(store_url, cwd=tmp_path)  # --no-standing-alerts
    server.start()
    try:
        assert active(server.url)["alerts"] == []
    finally:
        server.stop()
