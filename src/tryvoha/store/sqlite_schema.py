"""The SQLite schema: pragmas, numbered migrations, connections and transactions."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tryvoha.store.base import StoreError

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
)

# Numbered migrations; PRAGMA user_version records how many have run.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY, type TEXT NOT NULL, at_ms INTEGER NOT NULL,
            alert_id TEXT NOT NULL, region_id TEXT NOT NULL, issuer TEXT NOT NULL,
            payload BLOB NOT NULL)""",
        """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
        """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
        """CREATE TABLE alerts (
            id TEXT PRIMARY KEY, region_id TEXT NOT NULL, threat TEXT NOT NULL,
            started_ms INTEGER NOT NULL, ended_ms INTEGER, issuer TEXT NOT NULL,
            payload BLOB NOT NULL)""",
        "CREATE INDEX events_by_issuer ON events (issuer, seq)",
        "CREATE INDEX alerts_by_region ON alerts (region_id, started_ms)",
        "CREATE INDEX alerts_by_start ON alerts (started_ms, id)",
        """CREATE TABLE idempotency (
            principal TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
            status INTEGER NOT NULL, body BLOB NOT NULL, created_ms INTEGER NOT NULL,
            PRIMARY KEY (principal, key))""",
        """CREATE TABLE tokens (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
            scope TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL,
            revoked_ms INTEGER)""",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, actor TEXT NOT NULL,
            action TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL)""",
        "CREATE INDEX audit_by_actor ON audit (actor, id)",
        """CREATE TABLE snapshots (
            seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, created_ms INTEGER NOT NULL)""",
    ),
    (
        # The log's identity: a replaced store has another epoch, so an ETag or a seq
        # from the old one is never mistaken for one of the new.
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO meta (key, value) VALUES ('epoch', '{epoch}')",
    ),
    (
        # idempotency records are forgotten after a retention time, oldest first
        "CREATE INDEX idempotency_by_age ON idempotency (created_ms)",
    ),
    (
        # the events of one alert, for the references of its CAP messages
        "CREATE INDEX events_by_alert ON events (alert_id, seq)",
    ),
)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // MILLISECOND


def from_ms(ms: int) -> datetime:
    return EPOCH + ms * MILLISECOND


def now_ms() -> int:
    return to_ms(datetime.now(UTC))


def path_from_url(url: str) -> Path:
    """sqlite:///var/tryvoha.db is relative to the working directory, sqlite:////srv/t.db absolute."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StoreError(f"'{url}' is not a SQLite URL; write sqlite:///path/to/file.db")
    return Path(url[len(prefix) :])


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Run the migrations this file has not had, each in its own transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError(
            f"{path} has schema version {version}, newer than this tryvoha knows "
            f"({len(MIGRATIONS)}); upgrade tryvoha"
        )
    for number in range(version, len(MIGRATIONS)):
        with transaction(conn):
            # re-check under the lock: another process may have migrated meanwhile
            if conn.execute("PRAGMA user_version").fetchone()[0] > number:
                continue
            for statement in MIGRATIONS[number]:
                conn.execute(statement.replace("{epoch}", secrets.token_hex(4)))
            conn.execute(f"PRAGMA user_version={number + 1}")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE (the write lock, across processes) ... COMMIT, or ROLLBACK on any
    error, so the writer connection is never left inside a transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
