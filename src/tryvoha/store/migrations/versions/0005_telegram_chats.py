"""The Telegram bot's subscribers: one row per chat, with the region it follows and the
language it reads. How far each chat has been sent is its cursor (`telegram:chat:<id>`
in `cursors`, revision 0003), moved only after Telegram has answered.

Revision ID: 0005
Revises: 0009 (written on 0003; main had 0008 and 0009 by then)
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"  # written on 0009 beside 0004: chained after it
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "telegram_chats",
        sa.Column("chat_id", BIG, primary_key=True, autoincrement=False),
        sa.Column("region_id", sa.Text, nullable=False),
        sa.Column("lang", sa.Text, nullable=False),
        sa.Column("subscribed_ms", BIG, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("telegram_chats")
