"""The first schema: the event log, the alerts read model, idempotency, tokens, audit,
snapshots and the log's epoch.

Revision ID: 0001
Revises:
Create Date: 2026-12-07

On SQLite it is table for table what the numbered migrations 1-3 made (sqlite_legacy). PostgreSQL gets BIGINT where SQLite
has INTEGER (the same 64 bits there), BYTEA for BLOB, and a trigger function for the
append-only rule.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(
    sa.Integer(), "sqlite"
)  # SQLite: INTEGER PRIMARY KEY is the rowid


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", BIG, primary_key=True, autoincrement=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("at_ms", BIG, nullable=False),
        sa.Column("alert_id", sa.Text, nullable=False),
        sa.Column("region_id", sa.Text, nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("region_id", sa.Text, nullable=False),
        sa.Column("threat", sa.Text, nullable=False),
        sa.Column("started_ms", BIG, nullable=False),
        sa.Column("ended_ms", BIG),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_index("events_by_issuer", "events", ["issuer", "seq"])
    op.create_index("alerts_by_region", "alerts", ["region_id", "started_ms"])
    op.create_index("alerts_by_start", "alerts", ["started_ms", "id"])
    op.create_table(
        "idempotency",
        sa.Column("principal", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_ms", BIG, nullable=False),
    )
    op.create_index("idempotency_by_age", "idempotency", ["created_ms"])
    op.create_table(
        "tokens",
        sa.Column("id", BIG, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False, unique=True),
        sa.Column("created_ms", BIG, nullable=False),
        sa.Column("revoked_ms", BIG),
    )
    op.create_table(
        "audit",
        sa.Column("id", BIG, primary_key=True, autoincrement=True),
        sa.Column("at_ms", BIG, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("audit_by_actor", "audit", ["actor", "id"])
    op.create_table(
        "snapshots",
        sa.Column("seq", BIG, primary_key=True, autoincrement=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_ms", BIG, nullable=False),
    )
    # The log's identity: a replaced store has another epoch, so an ETag or a seq from
    # the old one is never mistaken for one of the new.
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.bulk_insert(meta, [{"key": "epoch", "value": secrets.token_hex(4)}])
    append_only()


def append_only() -> None:
    """Events are never changed or removed, whoever connects."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{verb.lower()} BEFORE {verb} ON events"
                " BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events"
        " FOR EACH ROW EXECUTE FUNCTION events_append_only()"
    )
    op.execute(
        "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events"
        " FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"
    )


def downgrade() -> None:
    for table in ("meta", "snapshots", "audit", "tokens", "idempotency", "alerts", "events"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION events_append_only()")
