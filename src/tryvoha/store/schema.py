"""The store's schema: which revision a store is at, and Alembic to bring it up to date.

Both backends are migrated by the same Alembic scripts (store/migrations). A store is:

- empty (no tables at all): `open()` creates the schema, so a first `tryvoha serve` on a
  new file or a new database just works;
- current: used as it is;
- older (an earlier revision, or a SQLite file from before Alembic): refused until
  `tryvoha db upgrade` is run, deliberately, after a backup;
- newer (a revision this tryvoha does not know) or foreign (tables, but not ours): refused.

Only `upgrade` imports Alembic and SQLAlchemy; a serving process that finds its store
current reads one row with its own driver and compares it with REVISIONS.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

from tryvoha.store.base import SchemaError, StoreError
from tryvoha.store.sqlite_legacy import LEGACY
from tryvoha.store.urls import kind_of, redact, sqlalchemy_url, sqlite_path

REVISIONS = (
    "0001",
    "0002",
    "0003",
    "0008",
    "0009",
    "0004",  # webhooks: made beside 0008 on another branch, chained after 0009
    "0005",  # telegram chats: chained after 0004
    "0006",
)  # in order; the Alembic scripts' chain (a test checks they agree)
HEAD = REVISIONS[-1]
SQLITE_USER_VERSION = 1000  # on every Alembic-managed SQLite file: pre-Alembic tryvoha refuses it
PG_LOCK = 0x7472_7976_6F68_6100  # advisory lock key ("tryvoha" in hex): one upgrader at a time


class State(StrEnum):
    EMPTY = "empty"
    CURRENT = "current"
    OLDER = "older"
    NEWER = "newer"
    FOREIGN = "foreign"


@dataclass(frozen=True, slots=True)
class Found:
    state: State
    revision: str | None  # Alembic's, or "legacy-N" for a pre-Alembic SQLite file


def judge(revision: str | None, tables: int, sqlite_user_version: int = 0) -> Found:
    """What a store is, from its Alembic revision, how many tables it has and (SQLite)
    its user_version."""
    if revision is None:
        if tables == 0 and sqlite_user_version == 0:
            return Found(State.EMPTY, None)
        if 0 < sqlite_user_version <= len(LEGACY):
            return Found(State.OLDER, f"legacy-{sqlite_user_version}")
        return Found(State.FOREIGN, None)
    if revision == HEAD:
        return Found(State.CURRENT, revision)
    if revision in REVISIONS:
        return Found(State.OLDER, revision)
    return Found(State.NEWER, revision)


def refuse(found: Found, url: str) -> None:
    """Raise SchemaError unless the store can be used as it is (or created)."""
    shown = redact(url)
    if found.state is State.OLDER:
        raise SchemaError(
            f"the store {shown} has schema {found.revision}, older than this tryvoha's "
            f"{HEAD}: back it up, then run: tryvoha db upgrade --store {shown}"
        )
    if found.state is State.NEWER:
        raise SchemaError(
            f"the store {shown} has schema {found.revision}, newer than this tryvoha knows "
            f"({HEAD}): upgrade tryvoha"
        )
    if found.state is State.FOREIGN:
        raise SchemaError(f"{shown} holds tables but no tryvoha schema: not a tryvoha store")


@dataclass(frozen=True, slots=True)
class Upgraded:
    before: str | None  # None: the store was empty
    after: str
    steps: tuple[str, ...]  # revisions applied, in order


Step = Callable[[str], None]


def inspect(url: str) -> Found:
    """What the store is, changing nothing (a missing SQLite file is empty). Blocking."""
    try:
        if kind_of(url) == "sqlite":
            import sqlite3

            from tryvoha.store.sqlite_schema import found

            path = sqlite_path(url)
            if not path.exists():
                return Found(State.EMPTY, None)
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                return found(conn)
            finally:
                conn.close()
        return asyncio.run(_inspect_postgres(url))
    except StoreError:
        raise
    except Exception as e:  # the driver's own errors: one clear line
        raise StoreError(f"cannot read the schema of {redact(url)}: {e}") from None


async def _inspect_postgres(url: str) -> Found:
    import asyncpg

    from tryvoha.store.postgres import found_on

    conn = await asyncpg.connect(url)
    try:
        return await found_on(conn)
    finally:
        await conn.close()


def upgrade(url: str, on_step: Step = lambda revision: None) -> Upgraded:
    """Bring the store to HEAD (creating it when empty), in one transaction, one upgrader
    at a time; a newer or foreign store is refused. Blocking: run it in a thread from a
    loop. `on_step` hears each revision as it is applied."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # on_step tells what it does
    try:
        if kind_of(url) == "sqlite":
            return _upgrade_sqlite(url, on_step)
        return asyncio.run(_upgrade_postgres(url, on_step))
    except StoreError:
        raise
    except Exception as e:  # the driver's own errors (through SQLAlchemy): one clear line
        reason = getattr(e, "orig", None) or e
        raise StoreError(f"cannot upgrade {redact(url)}: {reason}") from None


def _alembic(connection: Any, on_step: Step, applied: list[str]) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("tryvoha.store.migrations")))
    config.attributes["connection"] = connection

    def heard(*, step: Any, **_: Any) -> None:
        if not step.is_stamp:  # a legacy file is stamped, not migrated
            applied.append(step.up_revision_id)
            on_step(step.up_revision_id)

    config.attributes["on_version_apply"] = heard
    return config


def _revision(connection: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _upgrade_sqlite(url: str, on_step: Step) -> Upgraded:
    import sqlalchemy as sa
    from alembic import command

    path = sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi: Any, record: Any) -> None:
        dbapi.isolation_level = None  # transactions as written below, not as pysqlite guesses
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
            dbapi.execute(f"PRAGMA {pragma}")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock: one upgrader at a time

    applied: list[str] = []
    try:
        with engine.begin() as conn:
            user_version = conn.exec_driver_sql("PRAGMA user_version").scalar() or 0
            tables = conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).scalar()
            found = judge(_revision(conn), int(tables or 0), int(user_version))
            if found.state in (State.NEWER, State.FOREIGN):
                refuse(found, url)
            config = _alembic(conn, on_step, applied)
            if found.revision is not None and found.revision.startswith("legacy-"):
                _convert_legacy(conn, int(user_version), config)
            command.upgrade(config, "head")
            conn.exec_driver_sql(f"PRAGMA user_version={SQLITE_USER_VERSION}")
    finally:
        engine.dispose()
    return Upgraded(found.revision, HEAD, tuple(applied))


def _convert_legacy(conn: Any, user_version: int, config: Any) -> None:
    """A file from the numbered migrations: the steps it lacks, then stamped with the
    revision that has the same schema."""
    from alembic import command

    from tryvoha.store.sqlite_legacy import LAST_REVISION, statements_after

    for statement in statements_after(user_version):
        conn.exec_driver_sql(statement)
    command.stamp(config, LAST_REVISION)


async def _upgrade_postgres(url: str, on_step: Step) -> Upgraded:
    import sqlalchemy as sa
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    applied: list[str] = []
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({PG_LOCK})"))
            tables = await conn.scalar(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
            )
            found = judge(await conn.run_sync(_revision), int(tables or 0))
            if found.state in (State.NEWER, State.FOREIGN):
                refuse(found, url)

            def run(sync_conn: Any) -> None:
                command.upgrade(_alembic(sync_conn, on_step, applied), "head")

            await conn.run_sync(run)
    finally:
        await engine.dispose()
    return Upgraded(found.revision, HEAD, tuple(applied))
