"""Reading the history files: every name key mapped as the hand-checked crosswalk says,
every shipped row mapped, and every bad row rejected with its reason, never a crash."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tryvoha.data.history import (
    CONSOLIDATED_FILE,
    FIRST_DAY,
    LAST_DAY,
    OFFICIAL_FILE,
    open_record,
)
from tryvoha.domain.history import Source
from tryvoha.domain.regions import RegionTree
from tryvoha.protocol.history_csv import (
    HistoryFormatError,
    PlaceNames,
    UnmappedPlaceError,
    parse_time,
    read_history,
)

# A copy of ../shared/data/regions/crosswalk_alert_history_names.csv: every distinct name
# key of the upstream files, matched to KATOTTG by hand-checked rules.
CROSSWALK = Path(__file__).with_name("crosswalk_alert_history_names.csv")
# The crosswalk maps "m. Pokrov ta Pokrovska" to the village hromada Pokrovska
# (UA12080110000055958, seat Pokrovske); the city of Pokrov is the seat of the other
# Pokrovska hromada of the Nikopol raion, UA12080090000039979 (codifier: Покров, M, under it).
CORRECTED = {"UA12080110000055958": "UA12080090000039979"}
HEADER = "oblast,raion,hromada,level,started_at,finished_at,source\n"


@pytest.fixture(scope="module")
def names(tree: RegionTree) -> PlaceNames:
    return PlaceNames(tree)


def crosswalk() -> list[dict[str, str]]:
    with CROSSWALK.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_name_key_of_the_upstream_files_maps_as_the_crosswalk_says(
    names: PlaceNames,
) -> None:
    rows = crosswalk()
    assert len(rows) == 479
    wrong = []
    for row in rows:
        level = row["level"] if row["dataset"].startswith("official") else "oblast"
        want = CORRECTED.get(row["unit_katottg"], row["unit_katottg"])
        got: str
        try:
            got = names.region_for(level, row["oblast"], row["raion"], row["hromada"])
        except UnmappedPlaceError as e:
            got = str(e)
        if got != want:
            wrong.append((row["oblast"], row["raion"], row["hromada"], got, want))
    assert wrong == []


def test_renamed_units_and_the_swapped_columns(names: PlaceNames) -> None:
    zviahel = "UA18080000000016657"
    assert names.region_for("raion", "Zhytomyrska oblast", "Novohrad-Volynskyi raion") == zviahel
    assert names.region_for("raion", "Zhytomyrska oblast", "Zviahelskyi raion") == zviahel
    assert names.region_for("raion", "Житомирська область", "Звягельський район") == zviahel
    samarivskyi = "UA12100000000039307"  # renamed after the shipped snapshot
    assert (
        names.region_for("raion", "Dnipropetrovska oblast", "Novomoskovskyi raion") == samarivskyi
    )
    assert names.region_for("raion", "Dnipropetrovska oblast", "Samarivskyi raion") == samarivskyi
    swapped = names.region_for(
        "hromada", "Lubenskyi raion", "Poltavska oblast", "Hrebinkivska terytorialna hromada"
    )
    assert swapped == "UA53040010000091190"
    assert names.region_for("oblast", "Kyiv City") == names.region_for("oblast", "м. Київ")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (("Atlantis oblast", "", "", "oblast"), "'Atlantis oblast' names no oblast"),
        (("Lvivska oblast", "Atlantis raion", "", "raion"), "names no raion of Lvivska oblast"),
        (
            ("Lvivska oblast", "Lvivskyi raion", "Atlantiska terytorialna hromada", "hromada"),
            "names no hromada of Lvivskyi raion or its oblast",
        ),
        (("Lvivska oblast", "", "", "raion"), "a raion row without a raion name"),
        (("Lvivska oblast", "Lvivskyi raion", "", "hromada"), "a hromada row without a hromada"),
        (("Lvivska oblast", "", "", "city"), "level 'city' is not oblast, raion or hromada"),
    ],
)
def test_unmapped_rows_say_why(names: PlaceNames, row: tuple[str, ...], reason: str) -> None:
    oblast, raion, hromada, level = row
    with pytest.raises(UnmappedPlaceError, match=reason):
        names.region_for(level, oblast, raion, hromada)


def test_every_shipped_row_maps_to_a_region(names: PlaceNames) -> None:
    with open_record(OFFICIAL_FILE) as f:
        official = read_history(f, names)
    with open_record(CONSOLIDATED_FILE) as f:
        consolidated = read_history(f, names)
    assert (official.source, official.rows, len(official.records)) == (
        Source.OFFICIAL,
        43_031,
        43_031,
    )
    assert (consolidated.source, consolidated.rows, len(consolidated.records)) == (
        Source.CONSOLIDATED,
        74_675,
        74_675,
    )
    assert official.records[0].started_at == datetime(2022, 3, 15, 16, 10, 34, tzinfo=UTC)
    starts = [r.started_at.date() for p in (official, consolidated) for r in p.records]
    assert (min(starts), max(starts)) == (FIRST_DAY, LAST_DAY)
    assert official.records[0].line == 2
    assert sum(r.subalerts for r in consolidated.records) > consolidated.rows


def test_bad_rows_are_rejected_with_line_and_reason(names: PlaceNames) -> None:
    text = HEADER + (
        "Lvivska oblast,,,oblast,2024-01-01 10:00:00+00:00,2024-01-01 11:00:00+00:00,official\n"
        "Lvivska oblast,,,oblast,2024-01-01 10:00:00+00:00,,official\n"
        "Lvivska oblast,,,oblast,yesterday,2024-01-01 11:00:00+00:00,official\n"
        "Lvivska oblast,,,oblast,2024-01-01 10:00:00+00:00,soon,official\n"
        "Lvivska oblast,,,oblast,2024-01-01 10:00:00+00:00,2024-01-01 10:00:00+00:00,official\n"
        "Lvivska oblast,,,oblast\n"
        "\n"
        "Narnia,,,oblast,2024-01-01 10:00:00+00:00,2024-01-01 11:00:00+00:00,official\n"
        "Kyiv City,,,oblast,2024-01-01 10:00:00,2024-01-01 13:00:00+02:00,official\n"
    )
    parsed = read_history(text.splitlines(keepends=True), names)
    assert parsed.rows == 8  # the blank line is no row
    assert [(r.line, r.started_at.hour, r.ended_at.hour) for r in parsed.records] == [
        (2, 10, 11),
        (10, 10, 11),  # no offset is UTC (upstream writes UTC); +02:00 is converted
    ]
    assert [(r.line, r.reason) for r in parsed.rejections] == [
        (
            3,
            "no finished_at: an end is never invented, and a record is never turned into a live alert",
        ),
        (4, "started_at 'yesterday' is not a time"),
        (5, "finished_at 'soon' is not a time"),
        (6, "finished_at is not after started_at"),
        (7, "4 columns, 6 expected"),
        (9, "'Narnia' names no oblast"),
    ]


def test_layouts_are_told_apart_by_their_header(names: PlaceNames) -> None:
    legacy = "\ufeffoblast,raion,hromada,level,started_at,finished_at\nLvivska oblast,,,oblast,2022-03-15 16:10:34+00:00,2022-03-15 16:50:07+00:00\n"
    assert read_history(legacy.splitlines(), names).source is Source.OFFICIAL
    consolidated = "region,started_at,finished_at,n_subalerts,duration_minutes\nLvivska oblast,2024-05-01 10:00:00+00:00,2024-05-01 12:00:00+00:00,3,120.0\n"
    parsed = read_history(consolidated.splitlines(), names)
    assert parsed.source is Source.CONSOLIDATED and parsed.records[0].subalerts == 3
    with pytest.raises(HistoryFormatError, match="neither the official layout"):
        read_history(["region,started_at,finished_at,naive\n"], names)  # the volunteer file
    with pytest.raises(HistoryFormatError, match="empty"):
        read_history([], names)


def test_parse_time_is_utc() -> None:
    assert parse_time("2022-03-15 16:10:34+00:00") == datetime(2022, 3, 15, 16, 10, 34, tzinfo=UTC)
    assert parse_time("2022-03-15T18:10:34+02:00") == datetime(2022, 3, 15, 16, 10, 34, tzinfo=UTC)


cell = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(cell, max_size=9), max_size=8))
def test_any_rows_become_records_or_rejections(names: PlaceNames, rows: list[list[str]]) -> None:
    lines = [HEADER]
    for row in rows:
        buffer: list[str] = []
        csv.writer(_Collect(buffer)).writerow(row)
        lines.extend("".join(buffer).splitlines(keepends=True))
    try:
        parsed = read_history(lines, names)
    except HistoryFormatError:
        return  # a malformed CSV (e.g. an unclosed quote) is one clear error
    assert parsed.rows == len(parsed.records) + len(parsed.rejections)
    for record in parsed.records:
        assert record.ended_at > record.started_at


class _Collect:
    def __init__(self, into: list[str]) -> None:
        self.into = into

    def write(self, text: str) -> int:
        self.into.append(text)
        return len(text)
