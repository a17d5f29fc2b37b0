"""Declares that wait for a second person (`--confirm-over N`): the request as it came,
who asked, until when it may be confirmed, and how it ended (confirmed, cancelled,
expired). Nothing of it is in the event log until it is confirmed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pending",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("requester", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("oblasts", sa.Integer, nullable=False),
        sa.Column("created_ms", BIG, nullable=False),
        sa.Column("expires_ms", BIG, nullable=False),
        sa.Column("outcome", sa.Text),
        sa.Column("decided_by", sa.Text),
        sa.Column("decided_ms", BIG),
        sa.Column("seq", BIG),
    )
    op.create_index("pending_by_start", "pending", ["created_ms"])


def downgrade() -> None:
    op.drop_table("pending")
