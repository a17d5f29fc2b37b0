"""The alert-history CSV files of github.com/Vadimkin/ukrainian-air-raid-sirens-dataset.

Pure: lines of text in, records mapped to KATOTTG regions and explained rejections out.
Two layouts are read, told apart by their header:

* official: `oblast,raion,hromada,level,started_at,finished_at[,source]` (the upstream
  `official_data_en.csv` / `official_data_uk.csv`, and its older 6-column form);
* consolidated: `region,started_at,finished_at,n_subalerts[,...]`.

Place names are written as of the alert's date, in English (KMU-2010) or Ukrainian. They
are matched against the region tree's names after `normalise_name`; units renamed since
(Novohrad-Volynskyi raion is Zviahelskyi now) are in `RENAMED`; a row whose oblast and
raion columns are swapped (one upstream glitch) is read the right way round.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tryvoha.domain.history import Record, Source
from tryvoha.domain.regions import Level, RegionId, RegionTree, normalise_name

OFFICIAL_COLUMNS = ("oblast", "raion", "hromada", "level", "started_at", "finished_at")
CONSOLIDATED_COLUMNS = ("region", "started_at", "finished_at", "n_subalerts")

# Units renamed after the alerts were recorded: (oblast, normalised old name) -> region.
RENAMED: dict[tuple[str, str], str] = {
    # raions (Cabinet resolutions of 2023-2024)
    ("UA18000000000041385", "novohradvolynskyi"): "UA18080000000016657",  # Zviahelskyi
    ("UA18000000000041385", "новоградволинський"): "UA18080000000016657",
    ("UA63000000000041885", "krasnohradskyi"): "UA63060000000053698",  # Berestynskyi
    ("UA63000000000041885", "красноградський"): "UA63060000000053698",
    ("UA12000000000090473", "novomoskovskyi"): "UA12100000000039307",  # Samarivskyi
    ("UA12000000000090473", "новомосковський"): "UA12100000000039307",
    ("UA07000000000024379", "volodymyrvolynskyi"): "UA07020000000048211",  # Volodymyrskyi
    ("UA07000000000024379", "володимирволинський"): "UA07020000000048211",
    ("UA44000000000018893", "sievierodonetskyi"): "UA44120000000092852",  # Siverskodonetskyi
    ("UA44000000000018893", "сєвєродонецький"): "UA44120000000092852",
    ("UA46000000000026241", "chervonohradskyi"): "UA46120000000057093",  # Sheptytskyi
    ("UA46000000000026241", "червоноградський"): "UA46120000000057093",
    # hromadas
    ("UA71000000000010357", "vatutinska"): "UA71020030000059581",  # Bahachevska
    ("UA71000000000010357", "ватутінська"): "UA71020030000059581",
    ("UA12000000000090473", "pershotravenska"): "UA12140210000089021",  # Shakhtarska
    ("UA12000000000090473", "першотравенська"): "UA12140210000089021",
    ("UA48000000000039575", "yuzhnoukrainska"): "UA48040250000044166",  # Pivdennoukrainska
    ("UA48000000000039575", "южноукраїнська"): "UA48040250000044166",
    ("UA48000000000039575", "syniukhynobridska"): "UA48080150000083195",  # Syniushynobridska
    ("UA48000000000039575", "синюхинобрідська"): "UA48080150000083195",
    ("UA32000000000030281", "гостомелська"): "UA32080110000056605",  # spelling: Гостомельська
}

# Hromadas of one raion with the same name, told apart by their seat: (raion, seat) -> region.
SEATS: dict[tuple[str, str], str] = {
    # Nikopolskyi raion has two Pokrovska hromadas; the city of Pokrov is the seat of this one
    # (the village hromada around Pokrovske is UA12080110000055958).
    ("UA12080000000023578", "pokrov"): "UA12080090000039979",
    ("UA12080000000023578", "покров"): "UA12080090000039979",
}

_RAION_WORD = re.compile(r"\s+(?:raion|район)\s*$", re.IGNORECASE)
_HROMADA_WORDS = re.compile(
    r"\s+(?:(?:miska|selyshchna|silska|міська|селищна|сільська)\s+)?"
    r"(?:terytorialna\s+hromada|територіальна\s+громада)\s*$",
    re.IGNORECASE,
)
_SEAT_PREFIX = re.compile(
    r"^(?:m\.|smt\.?|s\.|м\.|смт\.?|с\.)\s*(?P<seat>.+?)\s+(?:ta|та)\s+", re.IGNORECASE
)


class HistoryFormatError(ValueError):
    """The file is not one of the layouts this reads."""


class UnmappedPlaceError(ValueError):
    """A row's place names name no region; the message says why."""


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    place: str  # the row's place names as written
    reason: str


@dataclass
class ParsedHistory:
    source: Source
    records: list[Record] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.records) + len(self.rejections)


class PlaceNames:
    """Place names as the history files write them, to region ids (cached per name)."""

    def __init__(self, tree: RegionTree) -> None:
        self.tree = tree
        self._oblasts: dict[str, RegionId] = {}
        self._raions: dict[tuple[RegionId, str], RegionId] = {}
        self._hromadas: dict[tuple[RegionId, str], list[RegionId]] = {}
        for region in tree:
            names = {normalise_name(n) for n in (region.name_en, region.name_uk, *region.aliases)}
            if region.level is Level.OBLAST:
                for name in names:
                    self._oblasts[name] = region.id
            elif region.level is Level.RAION and region.parent_id is not None:
                for name in names:
                    self._raions[(region.parent_id, name)] = region.id
            elif region.level is Level.HROMADA and region.parent_id is not None:
                oblast = tree.get(region.parent_id).parent_id
                for name in names:
                    for scope in (region.parent_id, oblast):
                        if scope is not None:
                            self._hromadas.setdefault((scope, name), []).append(region.id)
        self._cache: dict[tuple[str, str, str, str], RegionId | str] = {}

    def region_for(self, level: str, oblast: str, raion: str = "", hromada: str = "") -> RegionId:
        """The region a row is about; UnmappedPlaceError says why there is none."""
        key = (level, oblast, raion, hromada)
        found = self._cache.get(key)
        if found is None:
            try:
                found = self._match(level.strip().lower(), oblast.strip(), raion.strip(), hromada)
            except UnmappedPlaceError as e:
                found = str(e)
            self._cache[key] = found
        if found in self.tree:
            return RegionId(found)
        raise UnmappedPlaceError(found)

    def _match(self, level: str, oblast: str, raion: str, hromada: str) -> RegionId:
        if level not in ("oblast", "raion", "hromada"):
            raise UnmappedPlaceError(f"level '{level}' is not oblast, raion or hromada")
        oblast_id = self._oblasts.get(normalise_name(oblast))
        if oblast_id is None and raion and normalise_name(raion) in self._oblasts:
            oblast, raion = raion, oblast  # the oblast and raion columns swapped upstream
            oblast_id = self._oblasts[normalise_name(oblast)]
        if oblast_id is None:
            raise UnmappedPlaceError(f"'{oblast}' names no oblast")
        if level == "oblast":
            return oblast_id
        if not raion:
            raise UnmappedPlaceError(f"a {level} row without a raion name")
        raion_id = self._raion(oblast_id, raion)
        if level == "raion":
            return raion_id
        if not hromada.strip():
            raise UnmappedPlaceError("a hromada row without a hromada name")
        return self._hromada(oblast_id, raion_id, hromada.strip())

    def _raion(self, oblast_id: RegionId, raion: str) -> RegionId:
        for name in (normalise_name(raion), normalise_name(_RAION_WORD.sub("", raion))):
            found = self._raions.get((oblast_id, name))
            if found is None and (oblast_id, name) in RENAMED:
                found = RegionId(RENAMED[(oblast_id, name)])
            if found is not None:
                return found
        raise UnmappedPlaceError(f"'{raion}' names no raion of {self.tree.get(oblast_id).name_en}")

    def _hromada(self, oblast_id: RegionId, raion_id: RegionId, hromada: str) -> RegionId:
        seat = _SEAT_PREFIX.match(hromada)
        stem = normalise_name(_HROMADA_WORDS.sub("", _SEAT_PREFIX.sub("", hromada)))
        within_raion = self._hromadas.get((raion_id, stem), [])
        if len(within_raion) == 1:
            return within_raion[0]
        if seat is not None and (raion_id, normalise_name(seat["seat"])) in SEATS:
            return RegionId(SEATS[(raion_id, normalise_name(seat["seat"]))])
        within_oblast = self._hromadas.get((oblast_id, stem), [])
        if not within_raion and len(within_oblast) == 1:
            return within_oblast[0]
        renamed = RENAMED.get((oblast_id, stem))
        if renamed is not None:
            return RegionId(renamed)
        where = self.tree.get(raion_id).name_en
        if within_raion or within_oblast:
            raise UnmappedPlaceError(f"'{hromada}' names several hromadas around {where}")
        raise UnmappedPlaceError(f"'{hromada}' names no hromada of {where} or its oblast")


def parse_time(text: str) -> datetime:
    """Upstream writes UTC as `2022-03-15 16:10:34+00:00`; a time without an offset is UTC."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def read_history(lines: Iterable[str], names: PlaceNames) -> ParsedHistory:
    """Every row becomes a record or a rejection with its reason."""
    reader = csv.reader(iter(lines))
    try:
        header = [h.strip().lstrip("\ufeff").lower() for h in next(reader)]
    except StopIteration:
        raise HistoryFormatError("the file is empty") from None
    except csv.Error as e:
        raise HistoryFormatError(f"not a CSV file: {e}") from None
    if all(c in header for c in OFFICIAL_COLUMNS):
        source = Source.OFFICIAL
        columns = [header.index(c) for c in OFFICIAL_COLUMNS]
    elif all(c in header for c in CONSOLIDATED_COLUMNS):
        source = Source.CONSOLIDATED
        columns = [header.index(c) for c in CONSOLIDATED_COLUMNS]
    else:
        raise HistoryFormatError(
            f"the header '{','.join(header)[:120]}' is neither the official layout "
            f"({','.join(OFFICIAL_COLUMNS)},source) nor the consolidated one "
            f"({','.join(CONSOLIDATED_COLUMNS)},...)"
        )
    parsed = ParsedHistory(source)
    width = max(columns) + 1
    line = 1
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < width:
                parsed.rejections.append(
                    Rejection(line, ",".join(row)[:80], f"{len(row)} columns, {width} expected")
                )
                continue
            cells = [row[i] for i in columns]
            if source is Source.OFFICIAL:
                _official(parsed, line, names, cells)
            else:
                _consolidated(parsed, line, names, cells)
    except csv.Error as e:
        raise HistoryFormatError(f"line {line + 1}: {e}") from None
    return parsed


def _official(parsed: ParsedHistory, line: int, names: PlaceNames, cells: list[str]) -> None:
    oblast, raion, hromada, level, started, finished = cells
    place = " / ".join(p for p in (oblast, raion, hromada) if p) or "(no place)"
    try:
        region_id = names.region_for(level, oblast, raion, hromada)
    except UnmappedPlaceError as e:
        parsed.rejections.append(Rejection(line, place, str(e)))
        return
    _interval(parsed, line, place, region_id, started, finished, 1)


def _consolidated(parsed: ParsedHistory, line: int, names: PlaceNames, cells: list[str]) -> None:
    region, started, finished, subalerts = cells
    try:
        region_id = names.region_for("oblast", region)
    except UnmappedPlaceError as e:
        parsed.rejections.append(Rejection(line, region, str(e)))
        return
    try:
        count = int(float(subalerts)) if subalerts.strip() else 1
    except ValueError:
        parsed.rejections.append(
            Rejection(line, region, f"n_subalerts '{subalerts}' is not a number")
        )
        return
    _interval(parsed, line, region, region_id, started, finished, max(count, 1))


def _interval(
    parsed: ParsedHistory,
    line: int,
    place: str,
    region_id: RegionId,
    started: str,
    finished: str,
    subalerts: int,
) -> None:
    if not finished.strip():
        parsed.rejections.append(
            Rejection(
                line,
                place,
                "no finished_at: an end is never invented, and a record "
                "is never turned into a live alert",
            )
        )
        return
    try:
        start = parse_time(started)
    except ValueError:
        parsed.rejections.append(Rejection(line, place, f"started_at '{started}' is not a time"))
        return
    try:
        end = parse_time(finished)
    except ValueError:
        parsed.rejections.append(Rejection(line, place, f"finished_at '{finished}' is not a time"))
        return
    if end <= start:
        parsed.rejections.append(Rejection(line, place, "finished_at is not after started_at"))
        return
    parsed.records.append(Record(region_id, start, end, subalerts, line))
