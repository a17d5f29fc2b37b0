"""Import into the store of a running `tryvoha serve`, then ask it: the statistics API
answers what the pure computation says, the CLI prints the same JSON, and bad
parameters get a 422 problem naming the field."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from tests.conftest import KYIV_CITY, STORES, StoreMaker
from tests.support.server import ServerProcess, timeout
from tryvoha.data import region_tree
from tryvoha.domain.history import Source, plan_import
from tryvoha.domain.stats import AlertSpan, By, episodes, oblast_periods, region_stats
from tryvoha.protocol.history_csv import PlaceNames, read_history
from tryvoha.protocol.stats_json import stats_to_json

SLICE_MONTH = "2023-01"
NOW = datetime.now(UTC)
KYIV = ZoneInfo("Europe/Kyiv")


def tryvoha(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tryvoha", *args],
        capture_output=True,
        text=True,
        timeout=timeout(120),
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def slice_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped official record's rows of one month, as a user's download would be."""
    source = Path(__file__).parents[2] / "src/tryvoha/data/history/official_data_en.csv.gz"
    lines = gzip.decompress(source.read_bytes()).decode().splitlines(keepends=True)
    kept = [lines[0], *(line for line in lines[1:] if f",{SLICE_MONTH}-" in line)]
    path = tmp_path_factory.mktemp("history") / "official_data_en.csv"
    path.write_text("".join(kept), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=STORES)
def served(
    slice_file: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[ServerProcess, str]]:
    """A server that was running while the slice was imported into its store (each kind)."""
    folder = tmp_path_factory.mktemp("served")
    stores = StoreMaker(request.param, folder, request)
    store_url = stores()
    server = ServerProcess(store_url, cwd=folder)
    server.start()
    try:
        imported = tryvoha("import-history", str(slice_file), "--no-continue", "--store", store_url)
        assert imported.returncode == 0, imported.stderr
        assert "mapped to a region (100.00 %)" in imported.stdout
        yield server, store_url
    finally:
        server.stop()
        stores.drop()


@pytest.fixture(scope="module")
def alerts(slice_file: Path) -> list[AlertSpan]:
    with slice_file.open(encoding="utf-8") as f:
        parsed = read_history(f, PlaceNames(region_tree()))
    assert parsed.source is Source.OFFICIAL and not parsed.rejections
    return [(a.region_id, a.started_at, a.ended_at) for a in plan_import(parsed.records, []).alerts]


def get(server: ServerProcess, path: str, **params: str) -> httpx.Response:
    return httpx.get(server.url + path, params=params, timeout=timeout(30))


def test_stats_of_an_import_made_while_the_server_ran(
    served: tuple[ServerProcess, str], alerts: list[AlertSpan]
) -> None:
    server, _ = served
    answer = get(
        server, "/api/v1/stats", region="Kyiv", since="2023-01-01", until="2023-02-01", by="day"
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "public, max-age=60"
    body = answer.json()
    since = datetime(2023, 1, 1, tzinfo=KYIV)
    until = datetime(2023, 2, 1, tzinfo=KYIV)
    tree = region_tree()
    pure = region_stats(tree, KYIV_CITY, alerts, since, until, now=NOW, by=By.DAY, tz=KYIV)
    history = body.pop("history")
    assert body == orjson.loads(orjson.dumps(stats_to_json(pure, "Europe/Kyiv")))
    assert body["count"] > 10 and len(body["series"]) == 31
    assert body["since"] == "2022-12-31T22:00:00.000Z"
    assert [h["issuer"] for h in history] == ["history:official"]

    hours = get(
        server,
        "/api/v1/stats",
        region=KYIV_CITY,
        since="2023-01-01T00:00:00Z",
        until="2023-02-01T00:00:00Z",
        by="hour",
        tz="UTC",
    ).json()
    assert [b["bucket"] for b in hours["series"]] == [f"{h:02d}" for h in range(24)]
    assert sum(b["seconds"] for b in hours["series"]) == pytest.approx(hours["total_seconds"])


def test_every_oblast_and_the_nationwide_episodes(
    served: tuple[ServerProcess, str], alerts: list[AlertSpan]
) -> None:
    server, _ = served
    oblasts = get(server, "/api/v1/stats/oblasts", since="2023-01-01", until="2023-02-01").json()
    assert len(oblasts["regions"]) == 27
    kyiv = next(r for r in oblasts["regions"] if r["region_id"] == KYIV_CITY)
    one = get(
        server, "/api/v1/stats", region=KYIV_CITY, since="2023-01-01", until="2023-02-01"
    ).json()
    assert {k: one[k] for k in kyiv} == kyiv

    found = get(
        server, "/api/v1/stats/episodes", min_oblasts="15", since="2023-01-01", until="2023-02-01"
    ).json()
    tree = region_tree()
    since = datetime(2023, 1, 1, tzinfo=KYIV)
    want = episodes(
        oblast_periods(tree, alerts, now=NOW),
        since,
        datetime(2023, 2, 1, tzinfo=KYIV),
        min_oblasts=15,
    )
    assert found["count"] == len(want) > 0
    assert [e["peak"] for e in found["episodes"]] == [e.peak for e in want]


def test_the_cli_prints_the_apis_json(served: tuple[ServerProcess, str]) -> None:
    server, store_url = served
    params = {"region": KYIV_CITY, "since": "2023-01-01", "until": "2023-02-01", "by": "weekday"}
    api = get(server, "/api/v1/stats", **params).json()
    cli = tryvoha(
        "stats", "--region", "Kyiv", "--since", "2023-01-01", "--until", "2023-02-01",
        "--by", "weekday", "--json", "--store", store_url,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert orjson.loads(cli.stdout) == api
    table = tryvoha(
        "stats",
        "--region",
        "Kyiv",
        "--since",
        "2023-01-01",
        "--until",
        "2023-02-01",
        "--store",
        store_url,
    )
    assert f"{api['count']}" in table.stdout and "history:official" in table.stdout


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        ({"region": "Kyiv", "by": "year"}, 422, "invalid_parameter", "by"),
        ({"region": "Kyiv", "since": "yesterday"}, 422, "invalid_parameter", "since"),
        ({"region": "Kyiv", "until": "2023-01-01T10:00"}, 422, "invalid_parameter", "until"),
        ({"region": "Kyiv", "since": "2023-02-01", "until": "2023-01-01"}, 422, "invalid_parameter", "since"),
        ({"region": "Kyiv", "since": "2999-01-01", "until": "2999-02-01"}, 422, "invalid_parameter", "since"),
        ({"region": "Kyiv", "tz": "Mars/Olympus"}, 422, "invalid_parameter", "tz"),
        ({"region": "Kyiv", "since": "0001-01-01"}, 422, "invalid_parameter", "since"),
        ({"region": "Kyiv", "since": "2001-01-01", "by": "hour"}, 422, "invalid_parameter", "by"),
        ({"since": "2023-01-01"}, 422, "invalid_parameter", "region"),
        ({"region": "Atlantis"}, 422, "unknown_region", None),
    ],
)  # fmt: skip
def test_bad_parameters_are_422_problems_naming_the_field(
    served: tuple[ServerProcess, str],
    params: dict[str, str],
    status: int,
    code: str,
    field: str | None,
) -> None:
    server, _ = served
    answer = get(server, "/api/v1/stats", **params)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == code
    if field is not None:
        assert [e["field"] for e in problem["errors"]] == [field]
        assert problem["detail"].startswith(f"{field}: ")
    bad = get(server, "/api/v1/stats/episodes", min_oblasts="0")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "min_oblasts"
