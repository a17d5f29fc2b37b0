"""Build src/tryvoha/data/names.csv: the names the pages show in English and French.

Run by developers when the region tree changes; the output is committed (see
src/tryvoha/data/PROVENANCE.md). One form everywhere:

  oblasts       "Chernihiv Oblast"          "Oblast de Tchernihiv"
  the republic  "Autonomous Republic of Crimea"  "République autonome de Crimée"
  the two cities with special status  "Kyiv City"  "Ville de Kyiv"
  raions        "Shostka Raion"             "Raïon de Shostka"
  hromadas      "Shostka hromada"           "Hromada de Shostka"

A raion or hromada is named after its administrative centre. The codifier gives the
unit's name as an adjective ("Шосткинська") and lists the settlements inside it; the
centre is the settlement whose name the adjective is made from (the longest shared
stem, cities before villages), or else the one city inside whose name begins as the
adjective does (Біла Церква, "Білоцерківська"). Where none fits, the unit keeps the
KMU-2010 transliteration of its adjective ("Kryvorizka hromada").
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "regions"
CODIFIER = SHARED / "katottg_codifier.csv"
REGIONS = ROOT / "src" / "tryvoha" / "data" / "regions.csv"
TARGET = ROOT / "src" / "tryvoha" / "data" / "names.csv"

CRIMEA = "UA01000000000013043"
CITIES = {"UA80000000000093317", "UA85000000000065278"}  # Kyiv, Sevastopol

# English: the common name + "Oblast" (the form of the Ukrainian government's English
# pages and of most newsrooms). French: Wikipédia's list of the oblasts of Ukraine
# ("Oblast (Ukraine)", "Subdivisions de l'Ukraine"), with Kyiv as Ukraine spells it.
OBLAST_LEVEL = {
    # id: (English short, French short, French full)
    "UA01000000000013043": ("Crimea", "Crimée", "République autonome de Crimée"),
    "UA05000000000010236": ("Vinnytsia", "Vinnytsia", "Oblast de Vinnytsia"),
    "UA07000000000024379": ("Volyn", "Volhynie", "Oblast de Volhynie"),
    "UA12000000000090473": ("Dnipropetrovsk", "Dnipropetrovsk", "Oblast de Dnipropetrovsk"),
    "UA14000000000091971": ("Donetsk", "Donetsk", "Oblast de Donetsk"),
    "UA18000000000041385": ("Zhytomyr", "Jytomyr", "Oblast de Jytomyr"),
    "UA21000000000011690": ("Zakarpattia", "Transcarpatie", "Oblast de Transcarpatie"),
    "UA23000000000064947": ("Zaporizhzhia", "Zaporijjia", "Oblast de Zaporijjia"),
    "UA26000000000069363": ("Ivano-Frankivsk", "Ivano-Frankivsk", "Oblast d'Ivano-Frankivsk"),
    "UA32000000000030281": ("Kyiv Oblast", "Oblast de Kyiv", "Oblast de Kyiv"),
    "UA35000000000016081": ("Kirovohrad", "Kirovohrad", "Oblast de Kirovohrad"),
    "UA44000000000018893": ("Luhansk", "Louhansk", "Oblast de Louhansk"),
    "UA46000000000026241": ("Lviv", "Lviv", "Oblast de Lviv"),
    "UA48000000000039575": ("Mykolaiv", "Mykolaïv", "Oblast de Mykolaïv"),
    "UA51000000000030770": ("Odesa", "Odessa", "Oblast d'Odessa"),
    "UA53000000000028050": ("Poltava", "Poltava", "Oblast de Poltava"),
    "UA56000000000066151": ("Rivne", "Rivne", "Oblast de Rivne"),
    "UA59000000000057109": ("Sumy", "Soumy", "Oblast de Soumy"),
    "UA61000000000060328": ("Ternopil", "Ternopil", "Oblast de Ternopil"),
    "UA63000000000041885": ("Kharkiv", "Kharkiv", "Oblast de Kharkiv"),
    "UA65000000000030969": ("Kherson", "Kherson", "Oblast de Kherson"),
    "UA68000000000099709": ("Khmelnytskyi", "Khmelnytskyï", "Oblast de Khmelnytskyï"),
    "UA71000000000010357": ("Cherkasy", "Tcherkassy", "Oblast de Tcherkassy"),
    "UA73000000000044923": ("Chernivtsi", "Tchernivtsi", "Oblast de Tchernivtsi"),
    "UA74000000000025378": ("Chernihiv", "Tchernihiv", "Oblast de Tchernihiv"),
    "UA80000000000093317": ("Kyiv", "Kyiv", "Ville de Kyiv"),
    "UA85000000000065278": ("Sevastopol", "Sébastopol", "Ville de Sébastopol"),
}
SETTLEMENTS = ("M", "X", "C")  # city, settlement, village: a centre is more often a city
VOWELS = "AEIOUaeiou"


def _norm(text: str) -> str:
    return text.lower().replace("’", "").replace("'", "").replace("ʼ", "")


def _shared(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def centre(adjective: str, settlements: list[dict[str, str]]) -> dict[str, str] | None:
    """The settlement the adjective is made from: "Шосткинська" -> Шостка."""
    adj = _norm(adjective.split()[0])
    best: tuple[int, int, int] | None = None
    found = None
    for s in settlements:
        name = _norm(s["name"])
        stem = _shared(adj, name)
        if stem < 4 or stem < len(name) - 3:
            continue
        score = (stem, -(len(name) - stem), -SETTLEMENTS.index(s["category"]))
        if best is None or score > best:
            best, found = score, s
    if found is None:
        # "Білоцерківська" -> Біла Церква: the one city inside that begins the same way
        cities = [
            s for s in settlements if s["category"] == "M" and _shared(adj, _norm(s["name"])) >= 3
        ]
        if len(cities) == 1:
            found = cities[0]
    return found


def _de(name: str) -> str:
    return f"d'{name}" if name[:1] in VOWELS else f"de {name}"


def main() -> int:
    if not CODIFIER.exists():
        print(f"{CODIFIER} is missing (the shared data folder)", file=sys.stderr)
        return 1
    codifier = list(csv.DictReader(CODIFIER.open(encoding="utf-8")))
    by_raion: dict[str, list[dict[str, str]]] = {}
    by_hromada: dict[str, list[dict[str, str]]] = {}
    for row in codifier:
        if row["category"] in SETTLEMENTS:
            by_raion.setdefault(row["level2"], []).append(row)
            by_hromada.setdefault(row["level3"], []).append(row)
    regions = list(csv.DictReader(REGIONS.open(encoding="utf-8")))
    translit = {r["code"]: r["name_translit"] for r in codifier}
    short_uk = {r["code"]: r["name"] for r in codifier}
    out = []
    fallback = 0
    for r in regions:
        rid, level = r["id"], r["level"]
        if level == "country":
            out.append([rid, "country", "Ukraine", "Ukraine", "Ukraine", "Ukraine"])
            continue
        if level == "oblast":
            en_short, fr_short, fr_full = OBLAST_LEVEL[rid]
            if rid == CRIMEA:
                kind, en_full = "republic", "Autonomous Republic of Crimea"
            elif rid in CITIES:
                kind, en_full = "city", f"{en_short} City"
            else:
                kind = "oblast"
                en_full = en_short if en_short.endswith(" Oblast") else f"{en_short} Oblast"
            out.append([rid, kind, en_full, en_short, fr_full, fr_short])
            continue
        inside = (by_raion if level == "raion" else by_hromada).get(rid, [])
        found = centre(short_uk[rid], inside)
        if found is None:
            fallback += 1
            stem = translit[rid]
        else:
            stem = found["name_translit"]
        if level == "raion":
            out.append([rid, "raion", f"{stem} Raion", stem, f"Raïon {_de(stem)}", stem])
        else:
            out.append([rid, "hromada", f"{stem} hromada", stem, f"Hromada {_de(stem)}", stem])
    with TARGET.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "kind", "en", "short_en", "fr", "short_fr"])
        writer.writerows(out)
    print(f"{TARGET}: {len(out)} names, {fallback} units kept their adjective (no centre found)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
