"""SQLite files made before the schema moved to Alembic, by numbered migrations.

Such a file records how many of these it has had in `PRAGMA user_version` (1 to 4) and
has no `alembic_version` table. `tryvoha db upgrade` brings it to the last of them (which
is Alembic's revision 0002, table for table), stamps it 0002 and goes on from there.
Kept only for that conversion: new schema changes are Alembic revisions.
"""

from __future__ import annotations

import secrets

LEGACY: tuple[tuple[str, ...], ...] = (
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
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO meta (key, value) VALUES ('epoch', '{epoch}')",
    ),
    ("CREATE INDEX idempotency_by_age ON idempotency (created_ms)",),
    ("CREATE INDEX events_by_alert ON events (alert_id, seq)",),
)
LAST_REVISION = "0002"  # the Alembic revision whose schema is LEGACY's last, table for table


def statements_after(version: int) -> list[str]:
    """The numbered steps a file at `version` has not had, as SQL."""
    return [
        statement.replace("{epoch}", secrets.token_hex(4))
        for step in LEGACY[version:]
        for statement in step
    ]
