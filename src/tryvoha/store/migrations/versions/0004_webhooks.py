"""Webhook subscriptions and the last attempts to deliver to each. How far each endpoint
has acknowledged the log is its cursor (`cursors`, name `webhook:<id>`, revision 0003):
the log itself is the outbox, so a declare writes nothing more for any endpoint.

Revision ID: 0004
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0009"  # written on 0003, beside 0008 and 0009: chained after them
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("regions", sa.Text),  # comma-separated region ids; NULL: every region
        sa.Column("threats", sa.Text),  # comma-separated threat types; NULL: every one
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created_ms", BIG, nullable=False),
        sa.Column("version", BIG, nullable=False),
        sa.Column("replay_from", BIG),
        sa.Column("delivered_seq", BIG),
        sa.Column("delivered_ms", BIG),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_ms", BIG),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("webhook_id", sa.Text, primary_key=True),
        sa.Column("n", BIG, primary_key=True, autoincrement=False),
        sa.Column("seq", BIG, nullable=False),
        sa.Column("at_ms", BIG, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhooks")
