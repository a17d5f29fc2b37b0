"""Delivery state of the channels (webhooks, MQTT, Telegram, web push): leases, so that
one process delivers a channel at a time, and cursors over the log, advanced only once
a delivery is acknowledged.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("expires_ms", BIG, nullable=False),
    )
    op.create_table(
        "cursors",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("seq", BIG, nullable=False),
        sa.Column("updated_ms", BIG, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cursors")
    op.drop_table("leases")
