"""Importing the historical record into the event log, safely beside live alerts.

The plan (which alerts, by which rules) is pure: tryvoha.domain.history. This module reads
what the store holds already and writes the rest in chunks, each one transaction that
holds the log's write lock, so a live write made meanwhile is seen before anything is
decided: an alert id the log holds is skipped (a re-import writes nothing), and a region
that has an active air-raid alert right now is held back, because a historical
`alert.declared` there would contradict the live alert in the log. Importing again once it
is cleared writes exactly what was held back.
"""

from __future__ import annotations

import gc
import gzip
import io
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.events import Event, Seq
from tryvoha.domain.history import (
    PastAlert,
    Plan,
    Record,
    Source,
    Span,
    history_events,
    plan_import,
)
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import RegionTree
from tryvoha.engine.engine import Engine, load_projection
from tryvoha.engine.feed import Feed
from tryvoha.protocol.history_csv import ParsedHistory, PlaceNames, read_history
from tryvoha.protocol.wire import decode_event
from tryvoha.store.base import AuditEntry, Committed, Store

CHUNK_ALERTS = 10_000  # alerts per transaction (two events each)
GZIP_MAGIC = b"\x1f\x8b"
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def text_of(binary: IO[bytes]) -> io.TextIOWrapper:
    """A history file as text, whether it is plain or gzip-compressed."""
    head = binary.read(2)
    binary.seek(0)
    stream = gzip.GzipFile(fileobj=binary) if head == GZIP_MAGIC else binary
    return io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")


def read_file(binary: IO[bytes], names: PlaceNames) -> ParsedHistory:
    with text_of(binary) as text:
        return read_history(text, names)


async def covered_spans(store: Store) -> list[Span]:
    """What each history source already covers in the store."""
    spans = []
    for source in Source:
        found = await store.alert_span(source.issuer)
        if found is not None:
            spans.append(Span(source, found[0], found[1] or FAR_FUTURE))
    return spans


async def plan_for(store: Store, parsed: Sequence[ParsedHistory]) -> Plan:
    """What importing these files would write, given what the store holds."""
    official = _records(parsed, Source.OFFICIAL)
    consolidated = _records(parsed, Source.CONSOLIDATED)
    return plan_import(official, consolidated, await covered_spans(store))


@dataclass
class WriteReport:
    written: int = 0  # alerts
    events: int = 0
    already: int = 0  # in the log before (or written by someone else meanwhile)
    held_back: list[PastAlert] = field(default_factory=list)
    first_seq: Seq | None = None
    last_seq: Seq | None = None
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _chunks(alerts: Sequence[PastAlert], size: int) -> Iterator[Sequence[PastAlert]]:
    for start in range(0, len(alerts), size):
        yield alerts[start : start + size]


async def write_plan(
    store: Store,
    tree: RegionTree,
    plan: Plan,
    *,
    progress: Callable[[int], None] = lambda n: None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    chunk: int = CHUNK_ALERTS,
) -> WriteReport:
    """Append the plan's alerts that the log lacks; `progress` hears of each alert done."""
    report = WriteReport()
    started = time.perf_counter()
    projection = await load_projection(store)
    known = await store.has_alert_ids([a.id for a in plan.alerts])
    collecting = gc.isenabled()
    gc.disable()  # events, dicts and rows by the hundred thousand, and no cycle among them:
    try:  # the cycle collector would walk them over and over (15% of an import)
        for part in _chunks(plan.alerts, chunk):
            await _write_chunk(store, projection, part, known, report, clock)
            progress(len(part))
    finally:
        if collecting:
            gc.enable()
    if report.written:
        # the projection is as before the import but at a later seq: a snapshot spares
        # the next start-up replaying every imported event
        await Engine(store, tree, Feed(projection)).save_snapshot()
    report.seconds = time.perf_counter() - started
    return report


async def _write_chunk(
    store: Store,
    projection: Projection,
    part: Sequence[PastAlert],
    known: set[str],
    report: WriteReport,
    clock: Callable[[], datetime],
) -> None:
    tx = await store.begin_write(projection.seq)
    try:
        events, audit = _chunk_events(tx.tail, projection, part, known, report, clock)
        committed: list[Committed] = []
        if not events:
            pass
        elif tx.blocks_loop:  # SQLite: nothing else runs on this loop meanwhile
            committed = tx.commit_blocking(events, None, [audit])
        else:
            committed = await tx.commit(events, None, [audit])
    finally:  # nothing to undo once committed
        if tx.blocks_loop:
            tx.rollback_blocking()
        else:
            await tx.rollback()
    if not committed:
        return
    for c in committed:
        projection.apply(c.event)
    report.written += len(events) // 2
    report.events += len(events)
    report.first_seq = report.first_seq or events[0].seq
    report.last_seq = events[-1].seq


def _chunk_events(
    tail: Sequence[bytes],
    projection: Projection,
    part: Sequence[PastAlert],
    known: set[str],
    report: WriteReport,
    clock: Callable[[], datetime],
) -> tuple[list[Event], AuditEntry]:
    """The events of the alerts the log lacks (after taking in its tail), and the entry
    that tells the audit log of them."""
    for raw in tail:  # live writes (or another import) since we last looked
        event = decode_event(raw)
        projection.apply(event)
        known.add(event.alert.id)
    events: list[Event] = []
    seq = projection.seq
    issuers: dict[str, int] = {}
    for alert in part:
        if alert.id in known:
            report.already += 1
            continue
        if projection.find(alert.region_id, ThreatType.AIR_RAID) is not None:
            report.held_back.append(alert)
            continue
        for pending in history_events(alert):
            seq = Seq(seq + 1)
            events.append(Event.committed(seq, pending))
        issuers[alert.source.issuer] = issuers.get(alert.source.issuer, 0) + 1
        known.add(alert.id)
    counts = ", ".join(f"{n} {issuer}" for issuer, n in issuers.items())
    first = events[0].seq if events else seq
    audit = AuditEntry(
        clock(), "cli", "history.import", "ok", f"seq {first}-{seq}: {counts} alerts"
    )
    return events, audit


def shipped_record(names: PlaceNames) -> list[ParsedHistory]:
    """The record shipped with tryvoha: the official file, then the consolidated one."""
    from importlib import resources

    from tryvoha.data.history import CONSOLIDATED_FILE, OFFICIAL_FILE

    folder = resources.files("tryvoha.data.history")
    parsed = []
    for name in (OFFICIAL_FILE, CONSOLIDATED_FILE):
        with folder.joinpath(name).open("rb") as f:
            parsed.append(read_file(f, names))
    return parsed


def plan_shipped(tree: RegionTree) -> Plan:
    """The shipped record as one import into an empty store would write it."""
    parsed = shipped_record(PlaceNames(tree))
    return plan_import(_records(parsed, Source.OFFICIAL), _records(parsed, Source.CONSOLIDATED))


def _records(parsed: Sequence[ParsedHistory], source: Source) -> list[Record]:
    return [r for p in parsed if p.source is source for r in p.records]
