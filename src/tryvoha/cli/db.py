"""`tryvoha db upgrade|status` and `tryvoha migrate-store`: the store's schema, and moving a
one-box log to PostgreSQL."""

from __future__ import annotations

import asyncio

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from tryvoha.cli.output import console, fail
from tryvoha.cli.tokens import StoreOption
from tryvoha.engine.transfer import BATCH, ORDER, MoveReport, move, totals
from tryvoha.store import StoreError, open_store, redact
from tryvoha.store.schema import HEAD, State, inspect, upgrade
from tryvoha.store.urls import kind_of, sqlite_path

app = typer.Typer(
    help="The store's schema: upgrade it, or see where it stands.", no_args_is_help=True
)


@app.command("upgrade")
def upgrade_command(store: str = StoreOption) -> None:
    """Bring the store's schema to this tryvoha's (creating it in an empty store).

    Back the store up first. Safe to run again, and beside running servers (one upgrade
    at a time); a schema newer than this tryvoha is refused."""
    shown = redact(store)

    def step(revision: str) -> None:
        console.print(f"  applying {revision}", highlight=False)

    try:
        done = upgrade(store, on_step=step)
    except StoreError as e:
        fail(str(e))
    if done.before == done.after:
        console.print(f"{shown}: schema {done.after}, up to date", highlight=False)
    else:
        before = "empty" if done.before is None else done.before
        console.print(f"{shown}: schema {before} → {done.after}", highlight=False)


@app.command("status")
def status_command(store: str = StoreOption) -> None:
    """Which schema the store has, and whether this tryvoha can serve it."""
    try:
        found = inspect(store)
    except StoreError as e:
        fail(str(e))
    verdict = {
        State.CURRENT: "current",
        State.EMPTY: "empty: serve or db upgrade creates the schema",
        State.OLDER: f"older than {HEAD}: run tryvoha db upgrade",
        State.NEWER: f"newer than {HEAD}: upgrade tryvoha",
        State.FOREIGN: "not a tryvoha store",
    }[found.state]
    console.print(f"{redact(store)}: schema {found.revision or '-'} ({verdict})", highlight=False)


def migrate_store(
    source: str = typer.Argument(..., help="the store to move, e.g. sqlite:///var/tryvoha.db"),
    target: str = typer.Argument(
        ..., help="an empty store, e.g. postgresql://user:password@host:5432/tryvoha"
    ),
    batch: int = typer.Option(BATCH, min=100, help="rows per transaction"),
) -> None:
    """Move a whole store (events, alerts, tokens, audit, idempotency records, snapshots)
    into an empty one, checking every row; events keep their seq and bytes.

    Stop the servers on the source first. See docs/self-host.md."""
    try:
        if kind_of(source) == "sqlite" and not sqlite_path(source).is_file():
            fail(f"{source}: no such file")
        kind_of(target)
    except StoreError as e:
        fail(str(e))
    try:
        report = asyncio.run(_move(source, target, batch))
    except StoreError as e:
        fail(str(e))
    moved = ", ".join(
        f"{n:,} {table}" for table, n in report.rows.items() if n and table != "events"
    )
    console.print(
        f"moved {report.rows['events']:,} events ({moved or 'nothing else'}) from "
        f"{redact(source)} to {redact(target)} in {report.seconds:.1f} s: "
        f"{report.events_per_second:,.0f} events/s; every row checked",
        highlight=False,
    )


async def _move(source_url: str, target_url: str, batch: int) -> MoveReport:
    source, target = open_store(source_url), open_store(target_url)
    await source.open()
    try:
        await target.open()
        try:
            counts = await totals(source)
            with Progress(
                TextColumn("{task.description:>12}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as progress:
                tasks: dict[str, TaskID] = {
                    table: progress.add_task(table, total=counts[table]) for table in ORDER
                }
                return await move(
                    source,
                    target,
                    batch=batch,
                    progress=lambda table, n: progress.advance(tasks[table], n),
                )
        finally:
            await target.close()
    finally:
        await source.close()
