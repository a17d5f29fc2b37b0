"""`tryvoha audit`: who did what, straight on the store: token changes, writes, refusals."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table

from tryvoha.cli.output import console, fail
from tryvoha.cli.tokens import StoreOption, on_store
from tryvoha.engine.statistics import zone_named
from tryvoha.protocol.stats_json import parse_moment
from tryvoha.store.base import AuditQuery

TZ = "Europe/Kyiv"


def _moment(flag: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_moment(text, zone_named(TZ))
    except (ValueError, OverflowError) as e:
        fail(f"{flag}: {e}")


def audit(
    since: str | None = typer.Option(None, help="from: a date (Kyiv time) or RFC 3339"),
    until: str | None = typer.Option(None, help="to (exclusive): a date or RFC 3339"),
    token: str | None = typer.Option(None, help="only what this token (by name) did"),
    denied: bool = typer.Option(False, "--denied", help="only refusals"),
    limit: int = typer.Option(50, min=1, max=10_000, help="at most this many, newest first"),
    store: str = StoreOption,
) -> None:
    """The audit log, newest first: token changes, writes and refused writes."""
    query = AuditQuery(token, _moment("--since", since), _moment("--until", until), denied, limit)
    entries = on_store(store, lambda s: s.read_audit(query))
    table = Table("at (UTC)", "who", "what", "outcome", "detail")
    for e in entries:
        style = "red" if e.outcome == "denied" else None
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.outcome, e.detail, style=style
        )
    console.print(table)
    if not entries:
        console.print("nothing in the audit log matches", style="yellow")
