"""Moving a whole store to another backend, row by row and checked: `tryvoha migrate-store`.

The log is moved as it is stored: every event keeps its seq and its exact bytes (streams
send those bytes; a subscriber's `Last-Event-ID` stays valid), and so does the epoch, so
ETags and cursors of the old store remain good on the new one: it is the same log. The
read models, tokens, audit log, idempotency records and snapshots go with it. Each batch
is read back from the target and compared with the source, field by field.

The target must be empty (a new database with the schema, as `tryvoha db upgrade`
makes it), and the source must not be written to meanwhile (stop its server): both are
checked. A move that fails half way leaves a partial target: drop it and start again.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tryvoha.store.base import KEYS, TABLES, Row, Store, StoreError

ORDER = tuple(TABLES)  # every table the store lists, the log first
BATCH = 50_000  # rows per transaction on the target


class TransferError(StoreError):
    """The move cannot start, or what arrived differs from what left."""


@dataclass
class MoveReport:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.rows.get("events", 0) / self.seconds if self.seconds else 0.0


Progress = Callable[[str, int], None]  # table, rows just moved


async def totals(source: Store) -> dict[str, int]:
    """How many rows each table of the source holds."""
    return {table: await source.count_rows(table) for table in ORDER}


async def move(
    source: Store, target: Store, *, progress: Progress = lambda t, n: None, batch: int = BATCH
) -> MoveReport:
    """Copy every table of `source` into the empty `target`, checking each batch."""
    for table in ("events", "tokens", "audit"):
        if await target.count_rows(table):
            raise TransferError(
                f"the target already holds {table}: migrate-store fills an empty store only"
            )
    report = MoveReport()
    started = time.perf_counter()
    last_seq = await source.last_seq()
    collecting = gc.isenabled()
    gc.disable()  # rows by the hundred thousand, no cycle among them (see engine.history)
    try:
        for table in ORDER:
            report.rows[table] = await _move_table(source, target, table, batch, progress)
    finally:
        if collecting:
            gc.enable()
    await target.finish_import()
    if await source.last_seq() != last_seq:
        raise TransferError(
            "the source was written to during the move: stop its server, drop the target "
            "and move again"
        )
    report.seconds = time.perf_counter() - started
    return report


def _key(table: str, row: Row) -> Row:
    return row[: len(KEYS[table])]


async def _move_table(
    source: Store, target: Store, table: str, batch: int, progress: Progress
) -> int:
    """Batch by batch, in order; while one batch is written, the next is read from the
    source and the one before is read back from the target and checked."""
    moved = 0
    rows = await source.export_rows(table, None, batch)
    after: Row | None = None
    written: tuple[Row | None, list[Row]] | None = None  # the last batch, not yet checked
    while rows:
        following = _key(table, rows[-1])
        _, upcoming, _ = await asyncio.gather(
            target.import_rows(table, rows),
            source.export_rows(table, following, batch),
            _check(target, table, written),
        )
        moved += len(rows)
        progress(table, len(rows))
        written = (after, rows)
        rows, after = upcoming, following
    await _check(target, table, written)
    return moved


async def _check(target: Store, table: str, written: tuple[Row | None, list[Row]] | None) -> None:
    """Read a written batch back from the target: every field as it left the source."""
    if written is None:
        return
    after, rows = written
    arrived = await target.export_rows(table, after, len(rows))
    if arrived != rows:
        for sent, got in zip(rows, arrived, strict=False):
            if sent != got:
                raise TransferError(f"{table} {_key(table, sent)} differs after the move")
        raise TransferError(f"{table}: {len(arrived)} rows arrived of {len(rows)} sent")
