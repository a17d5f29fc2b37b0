"""Build src/tryvoha/data/compat/locations.csv: the location ids of alerts.in.ua and of the
ukrainealarm API, each mapped to our region id (KATOTTG).

The two services number places the same way (ukrainealarm's regionId is alerts.in.ua's
location uid: every uid the two share names the same KATOTTG unit; this script checks
that), so one table serves both compatible APIs. Inputs, from the project's shared data
folder (../shared/data/regions):
- alerts_in_ua_locations.csv: the 155 uids of the alerts-in-ua 0.4.0 client (oblasts,
  raions, Kyiv, Sevastopol, the cities of Kharkiv and Zaporizhzhia);
- ukrainealarm_regions.json / .csv: ukrainealarm's tree (states, districts, communities)
  in the API's order, communities matched to KATOTTG by name.

Run by developers when those change; the output is committed. See
src/tryvoha/data/compat/PROVENANCE.md.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "regions"
TARGET = ROOT / "src" / "tryvoha" / "data" / "compat" / "locations.csv"
REGIONS = ROOT / "src" / "tryvoha" / "data" / "regions.csv"

COLUMNS = (
    "uid",
    "region_id",
    "kind",
    "parent_uid",
    "ukrainealarm_name",
    "alerts_in_ua_title",
    "alerts_in_ua_type",
)
KIND_OF_LEVEL = {"oblast": "State", "raion": "District", "hromada": "Community"}
AIU_TYPE_OF_KIND = {"State": "oblast", "District": "raion", "Community": "hromada"}


def ukrainealarm_rows() -> list[dict[str, str]]:
    """The tree in the API's order, with each community's KATOTTG from the flat CSV."""
    flat = {
        r["region_id"]: r
        for r in csv.DictReader((SHARED / "ukrainealarm_regions.csv").open(encoding="utf-8"))
    }
    tree = json.loads((SHARED / "ukrainealarm_regions.json").read_text(encoding="utf-8"))
    rows: list[dict[str, str]] = []

    def add(uid: int, kind: str, parent: str, name: str) -> None:
        rows.append(
            {
                "uid": str(uid),
                "region_id": flat[str(uid)]["katottg"],
                "kind": kind,
                "parent_uid": parent,
                "ukrainealarm_name": name,
            }
        )

    for state in tree["states"]:
        add(state["stateId"], "State", "", state["stateName"])
        for district in state["districts"]:
            add(district["districtId"], "District", str(state["stateId"]), district["districtName"])
            for community in district["communities"]:
                add(
                    community["communityId"],
                    "Community",
                    str(district["districtId"]),
                    community["communityName"],
                )
    return rows


def main() -> int:
    levels = {r["id"]: r["level"] for r in csv.DictReader(REGIONS.open(encoding="utf-8"))}
    aiu = {
        r["alerts_in_ua_uid"]: r
        for r in csv.DictReader((SHARED / "alerts_in_ua_locations.csv").open(encoding="utf-8"))
    }
    rows = ukrainealarm_rows()
    by_uid = {r["uid"]: r for r in rows}
    for uid, loc in aiu.items():
        row = by_uid.get(uid)
        if row is None:  # Crimea, Sevastopol, Luhansk's four raions: alerts.in.ua only
            level = levels[loc["katottg"]]
            parent = "" if level == "oblast" else _uid_of(aiu, loc["oblast_katottg"])
            row = {
                "uid": uid,
                "region_id": loc["katottg"],
                "kind": KIND_OF_LEVEL[level],
                "parent_uid": parent,
                "ukrainealarm_name": "",
            }
            rows.append(row)
            by_uid[uid] = row
        elif row["region_id"] != loc["katottg"]:
            print(f"uid {uid}: the two services disagree", file=sys.stderr)
            return 1
        city = loc["location_type"].startswith("city") or loc["location_title"].startswith("м. ")
        row["alerts_in_ua_title"] = loc["location_title"]
        row["alerts_in_ua_type"] = "city" if city else loc["location_type"]
    for row in rows:
        if "alerts_in_ua_title" not in row:  # a community: alerts.in.ua calls it as ukrainealarm
            row["alerts_in_ua_title"] = row["ukrainealarm_name"]
            row["alerts_in_ua_type"] = AIU_TYPE_OF_KIND[row["kind"]]
        region = row["region_id"]
        if region and KIND_OF_LEVEL[levels[region]] != row["kind"]:
            print(f"uid {row['uid']}: {row['kind']} but {region} is a {levels[region]}")
            return 1
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    with TARGET.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    mapped = sum(1 for r in rows if r["region_id"])
    print(f"{len(rows)} locations, {mapped} mapped to a region -> {TARGET.relative_to(ROOT)}")
    return 0


def _uid_of(aiu: dict[str, dict[str, str]], katottg: str) -> str:
    return next(uid for uid, loc in aiu.items() if loc["katottg"] == katottg)


if __name__ == "__main__":
    sys.exit(main())
