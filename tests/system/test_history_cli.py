"""`tryvoha import-history`, `stats` and `episodes` as a user runs them: the mapping rate and
every rejected row's reason are printed, a second run writes nothing, and every mistake is
one clear line."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

from tests.support.log import read_log
from tests.support.server import timeout

HEADER = "oblast,raion,hromada,level,started_at,finished_at,source\n"


def tryvoha(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tryvoha", *args],
        capture_output=True,
        text=True,
        timeout=timeout(120),
        cwd=cwd,
        env={**os.environ, "COLUMNS": "250"},
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_a_download_with_bad_rows_imports_what_maps_and_explains_the_rest(
    tmp_path: Path, store_url: str
) -> None:
    rows = HEADER + (
        "Lvivska oblast,,,oblast,2024-05-01 10:00:00+00:00,2024-05-01 11:00:00+00:00,official\n"
        "Kharkivska oblast,Krasnohradskyi raion,,raion,2024-05-01 10:00:00+00:00,"
        "2024-05-01 12:00:00+00:00,official\n"
        "Narnia oblast,,,oblast,2024-05-01 10:00:00+00:00,2024-05-01 11:00:00+00:00,official\n"
        "Kyiv City,,,oblast,2024-05-01 10:00:00+00:00,,official\n"
    )
    path = tmp_path / "official_data_en.csv.gz"  # compressed, as some keep it
    path.write_bytes(gzip.compress(rows.encode()))
    first = tryvoha("import-history", str(path), "--no-continue", "--store", store_url)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "4 rows, 2 mapped to a region (50.00 %), source history:official" in out
    assert "'Narnia oblast' names no oblast" in out and "4 (Narnia oblast)" in out
    assert "no finished_at: an end is never invented" in out and "5 (Kyiv City)" in out
    assert "wrote 2 alerts (4 events, seq 1-4)" in out
    assert len(read_log(store_url)) == 4

    again = tryvoha("import-history", str(path), "--no-continue", "--store", store_url)
    assert again.returncode == 0, again.stderr
    assert (
        "wrote nothing new" in again.stdout and "2 alerts were in the store already" in again.stdout
    )
    assert len(read_log(store_url)) == 4


def test_stats_and_episodes_from_the_command_line(tmp_path: Path, store_url: str) -> None:
    path = tmp_path / "slice.csv"
    path.write_text(
        HEADER
        + "Lvivska oblast,,,oblast,2024-05-01 21:30:00+00:00,2024-05-01 22:30:00+00:00,official\n"
        + "Kyiv City,,,oblast,2024-05-01 21:00:00+00:00,2024-05-01 22:00:00+00:00,official\n"
    )
    assert (
        tryvoha("import-history", str(path), "--no-continue", "--store", store_url).returncode == 0
    )
    table = tryvoha(
        "stats", "-r", "Lviv", "--since", "2024-05-01", "--until", "2024-05-03", "--by", "day",
        "--store", store_url,
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    # 00:30-01:30 Kyiv time on 2 May: one alert, one hour, all of it on the second day
    assert "2024-05-02 │ 1      │ 1h00m" in table.stdout
    everyone = tryvoha(
        "stats", "--since", "2024-05-01", "--until", "2024-05-03", "--store", store_url
    )
    assert "Lviv Oblast" in everyone.stdout and "Kyiv City" in everyone.stdout
    both = tryvoha(
        "episodes", "--min-oblasts", "2", "--since", "2024-05-01", "--until", "2024-05-03",
        "--store", store_url,
    )  # fmt: skip
    assert "2024-05-02 00:30 │ 2024-05-02 01:00 │ 30m" in both.stdout
    assert "1 episodes, 30m in all" in both.stdout


def test_every_mistake_is_one_clear_line(tmp_path: Path, store_url: str) -> None:
    assert_one_line_error(
        tryvoha("import-history", str(tmp_path / "missing.csv"), "--store", store_url),
        "cannot read",
        "missing.csv",
    )
    volunteer = tmp_path / "volunteer_data_en.csv"
    volunteer.write_text("region,started_at,finished_at,naive\n")
    assert_one_line_error(
        tryvoha("import-history", str(volunteer), "--store", store_url),
        "neither the official layout",
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_one_line_error(tryvoha("import-history", str(empty), "--store", store_url), "empty")
    assert_one_line_error(
        tryvoha("import-history", "--store", "mysql://nowhere/x"), "unknown store"
    )
    assert_one_line_error(tryvoha("stats", "-r", "Atlantis", "--store", store_url), "--region")
    assert_one_line_error(
        tryvoha("stats", "--since", "last tuesday", "--store", store_url), "--since", "date"
    )
    assert_one_line_error(
        tryvoha("stats", "--since", "2024-02-01", "--until", "2024-01-01", "--store", store_url),
        "before",
    )
    assert_one_line_error(tryvoha("stats", "--tz", "Mars/Olympus", "--store", store_url), "--tz")
