"""`tryvoha token create|list|revoke`: straight on the store, with or without a server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import typer
from rich.table import Table

from tryvoha.cli.output import console, fail
from tryvoha.config import DEFAULT_STORE, env_name, parse_duration
from tryvoha.data import region_tree
from tryvoha.domain.errors import UnknownRegionError
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import issue_token, rotate_token
from tryvoha.store import Store, StoreError, open_store
from tryvoha.store.base import TokenExistsError
from tryvoha.web.names import display_name

T = TypeVar("T")

app = typer.Typer(
    help="Tokens of issuers and readers: create (shown once), list, revoke.", no_args_is_help=True
)

StoreOption = typer.Option(DEFAULT_STORE, "--store", envvar=env_name("store"), help="the store URL")


def on_store(url: str, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_store(url)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as e:
        fail(str(e))


@app.command()
def create(
    name: str = typer.Option(..., help="who uses it, e.g. 'lviv-oblast-duty'"),
    role: Role = typer.Option(
        Role.ISSUER, help="issuer, admin, or reader (reads only: a key for the compatible APIs)"
    ),
    scope: str = typer.Option(
        "",
        help="region ids or names, comma-separated; UA is the whole country (a reader needs none)",
    ),
    expires: str | None = typer.Option(
        None, help="how long it works, e.g. 90d or 12h (default: until revoked)"
    ),
    store: str = StoreOption,
) -> None:
    """Create a token. It is printed once, alone on the last line; only its hash is kept."""
    tree = region_tree()
    until = None
    if expires is not None:
        try:
            until = datetime.now(UTC) + timedelta(seconds=parse_duration(expires))
        except ValueError as e:
            fail(f"--expires: {e}")
    try:
        issued = on_store(
            store, lambda s: issue_token(s, tree, name, role, scope.split(","), until)
        )
    except (UnknownRegionError, ValueError, TokenExistsError) as e:
        fail(f"--scope: {e.detail}" if isinstance(e, UnknownRegionError) else str(e))
    regions = ", ".join(f"{display_name(r)} ({r})" for r in issued.record.scope) or "reading"
    console.print(
        f"token '{issued.record.name}' ({issued.record.role}) for {regions}", highlight=False
    )
    if issued.record.expires_at is not None:
        console.print(f"it works until {_when(issued.record.expires_at)}", highlight=False)
    console.print("keep it safe: it is shown only this once", style="yellow")
    print(issued.secret, flush=True)


@app.command()
def rotate(
    name: str = typer.Argument(..., help="the token's name"),
    overlap: str = typer.Option(
        "1h", help="how long the old secret keeps working, while its users change over"
    ),
    store: str = StoreOption,
) -> None:
    """Give a token a new secret (printed once, alone on the last line); the old secret
    works for --overlap more. Its name, role, scope and expiry stay."""
    try:
        seconds = parse_duration(overlap)
    except ValueError as e:
        fail(f"--overlap: {e}")
    rotated = on_store(store, lambda s: rotate_token(s, name, seconds))
    if rotated is None:
        fail(f"no usable token is named '{name}' (revoked, expired or never made)")
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    console.print(
        f"token '{name}' has a new secret; the old one works until {_when(until)}",
        highlight=False,
    )
    console.print("keep it safe: it is shown only this once", style="yellow")
    print(rotated.secret, flush=True)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else ""


@app.command("list")
def list_tokens(store: str = StoreOption) -> None:
    """List tokens (never their secrets)."""
    records = on_store(store, lambda s: s.list_tokens())
    table = Table("name", "role", "scope", "created", "expires", "last used", "revoked")
    for r in records:
        table.add_row(
            r.name,
            r.role.value,
            ",".join(r.scope),
            _when(r.created_at),
            _when(r.expires_at),
            _when(r.last_used_at),
            _when(r.revoked_at),
        )
    console.print(table)


@app.command()
def revoke(
    name: str = typer.Argument(..., help="the token's name"), store: str = StoreOption
) -> None:
    """Revoke a token: its next write is refused."""
    if not on_store(store, lambda s: s.revoke_token(name)):
        fail(f"no active token is named '{name}'")
    console.print(f"token '{name}' revoked")
