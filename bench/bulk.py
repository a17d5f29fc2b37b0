"""Bulk moves: `import-history` and `migrate-store` on each store, against a bare bulk
insert of the same rows into the same kind of store.

Issue 11 asks both to move at least 100,000 events a second on either store. The
reference is what the store itself takes at best: the very event rows tryvoha wrote (seq,
type, time, alert, region, issuer, payload bytes), into a table with only its primary
key, in one transaction: `executemany` on SQLite (WAL, synchronous=FULL), COPY on
PostgreSQL. tryvoha does more on top: it encodes each event, keeps the alerts read
model and its indexes, writes in transactions that let live writes in, and (migrate-store)
reads every batch back to check it. The ratio is tryvoha's time over the bare insert's.

PostgreSQL is a throwaway cluster started here (tests/support/postgres.py), as the
tests start theirs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table
from tests.support.postgres import Cluster, in_thread

from bench.options import Options
from tryvoha.data import region_tree
from tryvoha.domain.history import Plan
from tryvoha.engine.history import plan_shipped, write_plan
from tryvoha.engine.transfer import move
from tryvoha.store import Store, open_store
from tryvoha.store.base import TABLES, Row
from tryvoha.store.schema import upgrade

TARGET_EVENTS_PER_SECOND = 100_000
COLUMNS = TABLES["events"]
BARE_TABLE = (
    "CREATE TABLE bare (seq BIGINT PRIMARY KEY, type TEXT, at_ms BIGINT, alert_id TEXT,"
    " region_id TEXT, issuer TEXT, payload {blob})"
)


@dataclass(slots=True)
class BulkRun:
    what: str  # import-history | migrate-store
    store: str  # the store written to
    events: int
    seconds: float
    bare_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def ratio(self) -> float | None:
        return self.seconds / self.bare_seconds if self.bare_seconds else None

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "events_per_second": round(self.events_per_second),
            "bare_events_per_second": round(self.events / self.bare_seconds)
            if self.bare_seconds
            else None,
            "ratio": self.ratio,
        }


@dataclass(slots=True)
class Bulk:
    alerts: int = 0
    runs: list[BulkRun] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "alerts": self.alerts,
            "runs": [r.to_json() for r in self.runs],
            "problems": self.problems,
            "error": self.error,
        }


async def bare_sqlite(path: str, rows: list[Row]) -> float:
    def insert() -> float:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(BARE_TABLE.format(blob="BLOB"))
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO bare VALUES ({', '.join('?' * len(COLUMNS))})", rows)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
        return elapsed

    return await asyncio.to_thread(insert)


async def bare_postgres(url: str, rows: list[Row]) -> float:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(BARE_TABLE.format(blob="BYTEA"))
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("bare", records=rows, columns=COLUMNS)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def all_events(store: Store) -> list[Row]:
    rows: list[Row] = []
    while batch := await store.export_rows("events", rows[-1][:1] if rows else None, 50_000):
        rows += batch
    return rows


class Stores:
    """New, migrated stores of each kind, in one folder and one cluster."""

    def __init__(self, options: Options, cluster: Cluster) -> None:
        self.options = options
        self.cluster = cluster
        self.made = 0

    def url(self, kind: str) -> str:
        self.made += 1
        if kind == "sqlite":
            url = f"sqlite:///{self.options.tmp / f'bulk-{self.made}.db'}"
        else:
            url = self.cluster.create_database()
        in_thread(upgrade, url)
        return url

    def bare_url(self, kind: str) -> str:
        self.made += 1
        if kind == "sqlite":
            return str(self.options.tmp / f"bare-{self.made}.db")
        return self.cluster.create_database()


async def bare(stores: Stores, kind: str, rows: list[Row]) -> float:
    if kind == "sqlite":
        return await bare_sqlite(stores.bare_url(kind), rows)
    return await bare_postgres(stores.bare_url(kind), rows)


async def opened(url: str) -> Store:
    store = open_store(url)
    await store.open()
    return store


async def measure(options: Options, console: Console, plan: Plan, bulk: Bulk) -> None:
    cluster = Cluster().start()
    try:
        stores = Stores(options, cluster)
        imported: dict[str, Store] = {}
        for kind in ("sqlite", "postgresql"):
            store = imported[kind] = await opened(stores.url(kind))
            console.print(f"  import-history: {len(plan.alerts):,} alerts into {kind} ...")
            report = await write_plan(store, region_tree(), plan)
            rows = await all_events(store)
            bulk.runs.append(
                BulkRun(
                    "import-history",
                    kind,
                    report.events,
                    report.seconds,
                    await bare(stores, kind, rows),
                )
            )
        for source, kind in (("sqlite", "postgresql"), ("postgresql", "sqlite")):
            target = await opened(stores.url(kind))
            console.print(f"  migrate-store: {source} → {kind} ...")
            moved = await move(imported[source], target)
            rows = await all_events(target)
            await target.close()
            bulk.runs.append(
                BulkRun(
                    f"migrate-store from {source}",
                    kind,
                    moved.rows["events"],
                    moved.seconds,
                    await bare(stores, kind, rows),
                )
            )
        for store in imported.values():
            await store.close()
    finally:
        cluster.remove()


async def run_bulk(options: Options, console: Console) -> Bulk:
    tree = region_tree()
    plan = plan_shipped(tree)
    if options.bulk_alerts is not None:
        plan = dataclasses.replace(plan, alerts=plan.alerts[: options.bulk_alerts])
    bulk = Bulk(alerts=len(plan.alerts))
    console.print(f"  bulk: the shipped record, {len(plan.alerts):,} alerts, on each store ...")
    try:
        await measure(options, console, plan, bulk)
    except Exception as e:  # reported, not raised: the other sections' results stand
        bulk.error = f"{type(e).__name__}: {e}"
    return bulk


def bulk_table(bulk: Bulk) -> Table:
    table = Table(
        title=f"Bulk moves: {bulk.alerts:,} alerts of the shipped record vs a bare bulk insert "
        "of the same event rows into the same store",
        title_justify="left",
    )
    for col in (
        "",
        "store written",
        "events",
        "tryvoha",
        "events/s",
        "bare insert",
        "ratio",
        "≥ 100,000/s",
    ):
        table.add_column(col, justify="right" if col not in ("", "store written") else "left")
    for r in bulk.runs:
        table.add_row(
            r.what,
            r.store,
            f"{r.events:,}",
            f"{r.seconds:.2f} s",
            f"{r.events_per_second:,.0f}",
            f"{r.bare_seconds:.2f} s ({r.events / r.bare_seconds:,.0f}/s)"
            if r.bare_seconds
            else "—",
            f"{r.ratio:.2f}×" if r.ratio else "—",
            "met" if r.events_per_second >= TARGET_EVENTS_PER_SECOND else "[red]not met",
        )
    if bulk.error:
        table.caption = f"[red]{bulk.error}"
    return table
