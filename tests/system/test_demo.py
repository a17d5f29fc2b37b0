"""`tryvoha demo` replays a real day through a real server's write path: what the API shows
at the end is what the raw record says, and SIGINT or SIGTERM stop it cleanly (the child
server stopped, the temporary store removed), even when a non-interactive shell left
SIGINT ignored."""

from __future__ import annotations

import csv
import gzip
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support.server import timeout

RECORD = Path(__file__).parents[2] / "src/tryvoha/data/history/oblast_events_consolidated.csv.gz"
START = datetime(2024, 11, 13, 4, 30, tzinfo=UTC)  # 06:30 Kyiv time
END = datetime(2024, 11, 13, 22, 0, tzinfo=UTC)  # midnight Kyiv time


def raw_window() -> list[dict[str, str]]:
    """Rows of the raw consolidated file that overlap the replayed window."""
    with gzip.open(RECORD, "rt", encoding="utf-8", newline="") as f:
        return [
            row
            for row in csv.DictReader(f)
            if datetime.fromisoformat(row["started_at"]) < END
            and datetime.fromisoformat(row["finished_at"]) > START
        ]


def read_until(proc: subprocess.Popen[str], marker: str, seconds: float) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout(seconds)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("demo exited:\n" + "".join(lines))
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"no '{marker}' in time:\n" + "".join(lines))


def start_demo(*args: str, ignore_sigint: bool = False) -> subprocess.Popen[str]:
    def as_a_background_job() -> None:  # what a non-interactive shell does to `cmd &`
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        [sys.executable, "-m", "tryvoha", "demo", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"},
        preexec_fn=as_a_background_job if ignore_sigint else None,
    )


def stops_cleanly(proc: subprocess.Popen[str], how: signal.Signals, url: str, store: Path) -> None:
    proc.send_signal(how)
    out, _ = proc.communicate(timeout=timeout(60))
    assert proc.returncode == 0, out
    assert "stopped" in out and "Traceback" not in out
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/api/v1/state", timeout=timeout(2))
    assert not store.exists()  # the temporary store is gone


def intro_of(proc: subprocess.Popen[str]) -> tuple[str, Path]:
    intro = "".join(read_until(proc, "open http://", 60))
    store = Path(re.search(r"store: (\S+) ", intro).group(1))  # type: ignore[union-attr]
    url = re.search(r"open (http://\S+)/ ", intro).group(1)  # type: ignore[union-attr]
    assert store.exists()
    return url, store


def test_the_13_november_2024_replay_ends_as_the_record_says() -> None:
    proc = start_demo("--date", "2024-11-13", "--from", "06:30", "--speed", "20000")
    url, store = "", Path("/nonexistent")
    try:
        url, store = intro_of(proc)
        done = read_until(proc, "replay finished", 120)
        rows = raw_window()
        running = {r["region"] for r in rows if datetime.fromisoformat(r["finished_at"]) > END}
        assert f"{len(running)} alerts still active at the day's end" in "".join(done)

        active = httpx.get(f"{url}/api/v1/alerts/active", timeout=timeout(10)).json()["alerts"]
        names = {
            r["id"]: r["name_en"]
            for r in httpx.get(f"{url}/api/v1/regions", timeout=timeout(10)).json()["regions"]
        }
        replayed = [a for a in active if a["issuer"] != "standing:record"]
        assert {names[a["region_id"]] for a in replayed} == running
        # a consolidated day: each alert says only "somewhere in this oblast"
        assert {a["issuer"] for a in replayed} == {"demo:consolidated"}
        assert all(a["message"]["en"].startswith("Demo: replay of the alert") for a in replayed)
        assert not any("history:" in a["message"]["en"] for a in replayed)  # no internal ids
        standing = {names[a["region_id"]] for a in active if a["issuer"] == "standing:record"}
        assert standing == {"Luhanska oblast", "Avtonomna Respublika Krym"}
        history = httpx.get(
            f"{url}/api/v1/alerts",
            params={"issuer": "demo:consolidated", "limit": 1000},
            timeout=timeout(10),
        ).json()
        assert len(history["alerts"]) == len(rows)  # each row of the day, declared once
        page = httpx.get(url, timeout=timeout(10)).text
        assert 'id="replay"' in page and "2024-11-13T04:30:00+00:00" in page  # the replay clock
    finally:
        if url:
            stops_cleanly(proc, signal.SIGINT, url, store)
        else:
            proc.kill()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_and_removes_the_store(how: signal.Signals) -> None:
    # SIGINT as a script sends it to a background job: ignored at start, as shells leave it
    proc = start_demo(
        "--date", "2024-11-13", "--speed", "1", "--no-standing-alerts",
        ignore_sigint=how is signal.SIGINT,
    )  # fmt: skip
    try:
        url, store = intro_of(proc)
        assert httpx.get(f"{url}/api/v1/health", timeout=timeout(10)).status_code == 200
    except BaseException:
        proc.kill()
        raise
    stops_cleanly(proc, how, url, store)


def test_a_day_outside_the_record_is_one_clear_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tryvoha", "demo", "--date", "2021-06-01", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=timeout(60),
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: the shipped record has no alerts on 2021-06-01")
    bad = subprocess.run(
        [sys.executable, "-m", "tryvoha", "demo", "--date", "13.11.2024"],
        capture_output=True,
        text=True,
        timeout=timeout(60),
    )
    assert bad.returncode == 1 and "--date" in bad.stderr and "Traceback" not in bad.stderr
