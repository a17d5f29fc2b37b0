"""Build src/tryvoha/data/regions.csv from the KATOTTG extract in ../shared/data/regions.

Run by developers when the upstream data changes; the output is committed and is what
the package reads at run time. See src/tryvoha/data/PROVENANCE.md.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "regions" / "admin_units.csv"
TARGET = ROOT / "src" / "tryvoha" / "data" / "regions.csv"

# Conventional English names people type, for oblast-level units only (the KMU-2010
# transliteration "Lvivska oblast" stays the canonical name_en).
COMMON_EN = {
    "UA01000000000013043": "Crimea",
    "UA05000000000010236": "Vinnytsia",
    "UA07000000000024379": "Volyn",
    "UA12000000000090473": "Dnipropetrovsk",
    "UA14000000000091971": "Donetsk",
    "UA18000000000041385": "Zhytomyr",
    "UA21000000000011690": "Zakarpattia",
    "UA23000000000064947": "Zaporizhzhia",
    "UA26000000000069363": "Ivano-Frankivsk",
    "UA32000000000030281": "Kyiv Oblast",
    "UA35000000000016081": "Kirovohrad",
    "UA44000000000018893": "Luhansk",
    "UA46000000000026241": "Lviv",
    "UA48000000000039575": "Mykolaiv",
    "UA51000000000030770": "Odesa",
    "UA53000000000028050": "Poltava",
    "UA56000000000066151": "Rivne",
    "UA59000000000057109": "Sumy",
    "UA61000000000060328": "Ternopil",
    "UA63000000000041885": "Kharkiv",
    "UA65000000000030969": "Kherson",
    "UA68000000000099709": "Khmelnytskyi",
    "UA71000000000010357": "Cherkasy",
    "UA73000000000044923": "Chernivtsi",
    "UA74000000000025378": "Chernihiv",
    "UA80000000000093317": "Kyiv",
    "UA85000000000065278": "Sevastopol",
}


def main() -> int:
    rows = list(csv.DictReader(SOURCE.open(encoding="utf-8")))
    out = [
        {
            "id": "UA",
            "level": "country",
            "parent_id": "",
            "name_uk": "Україна",
            "name_en": "Ukraine",
            "short_uk": "Україна",
            "short_en": "Ukraine",
            "common_en": "Ukraine",
            "iso3166_2": "UA",
        }
    ]
    for r in rows:
        level = r["level"]
        if level == "oblast":
            parent = "UA"
        elif level == "raion":
            parent = r["oblast_code"]
        else:
            parent = r["raion_code"]
        out.append(
            {
                "id": r["code"],
                "level": level,
                "parent_id": parent,
                "name_uk": r["name_uk_full"],
                "name_en": r["name_en_translit_full"],
                "short_uk": r["name"],
                "short_en": r["name_translit"],
                "common_en": COMMON_EN.get(r["code"], ""),
                "iso3166_2": r["iso3166_2"],
            }
        )
    ids = {r["id"] for r in out}
    missing = [r["id"] for r in out if r["parent_id"] and r["parent_id"] not in ids]
    if missing:
        print(f"parents missing for {missing[:5]}", file=sys.stderr)
        return 1
    with TARGET.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(out)
    print(f"wrote {len(out)} regions to {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
