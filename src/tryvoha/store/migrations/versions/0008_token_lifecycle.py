"""Tokens that end and change: an expiry, when each was last used, the secrets a rotation
keeps valid for a while (the overlap), and a version every process can watch to forget
what it remembered of tokens the moment one changes.

Revision ID: 0008
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0003"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("tokens", sa.Column("expires_ms", BIG, nullable=True))
    op.add_column("tokens", sa.Column("last_used_ms", BIG, nullable=True))
    op.create_table(
        "token_overlap",
        sa.Column("hash", sa.Text, primary_key=True),
        sa.Column("token_id", BIG, nullable=False),
        sa.Column("until_ms", BIG, nullable=False),
    )
    op.execute("INSERT INTO meta (key, value) VALUES ('tokens_version', '0')")


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key = 'tokens_version'")
    op.drop_table("token_overlap")
    op.drop_column("tokens", "last_used_ms")
    op.drop_column("tokens", "expires_ms")
