"""`tryvoha token create|list|revoke`: straight on the store, with or without a server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.table import Table

from tryvoha.cli.output import console, fail
from tryvoha.config import DEFAULT_STORE, env_name
from tryvoha.data import region_tree
from tryvoha.domain.errors import UnknownRegionError
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import issue_token
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
    store: str = StoreOption,
) -> None:
    """Create a token. It is printed once, alone on the last line; only its hash is kept."""
    tree = region_tree()
    try:
        issued = on_store(store, lambda s: issue_token(s, tree, name, role, scope.split(",")))
    except (UnknownRegionError, ValueError, TokenExistsError) as e:
        fail(f"--scope: {e.detail}" if isinstance(e, UnknownRegionError) else str(e))
    regions = ", ".join(f"{display_name(r)} ({r})" for r in issued.record.scope) or "reading"
    console.print(
        f"token '{issued.record.name}' ({issued.record.role}) for {regions}", highlight=False
    )
    console.print("keep it safe: it is shown only this once", style="yellow")
    print(issued.secret, flush=True)


@app.command("list")
def list_tokens(store: str = StoreOption) -> None:
    """List tokens (never their secrets)."""
    records = on_store(store, lambda s: s.list_tokens())
    table = Table("name", "role", "scope", "created", "revoked")
    for r in records:
        table.add_row(
            r.name,
            r.role.value,
            ",".join(r.scope),
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            r.revoked_at.strftime("%Y-%m-%d %H:%M") if r.revoked_at else "",
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
