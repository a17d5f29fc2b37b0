"""Web Push: one subscription per browser (its push service's address and keys, the
language its notices are written in, the seq it subscribed at), and the regions each
follows, indexed by region so a batch of events finds its subscribers in one query.

Revision ID: 0006
Revises: 0005 (given 0003; chained after the revisions main merged meanwhile)
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"  # written on 0003: chained after 0008, 0009, 0004 and 0005
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Text, primary_key=True),  # from the endpoint: one per browser
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("p256dh", sa.Text, nullable=False),
        sa.Column("auth", sa.Text, nullable=False),
        sa.Column("lang", sa.Text, nullable=False),
        sa.Column("since_seq", BIG, nullable=False),
        sa.Column("created_ms", BIG, nullable=False),
        sa.Column("updated_ms", BIG, nullable=False),
    )
    op.create_table(
        "push_regions",
        sa.Column("region_id", sa.Text, primary_key=True),
        sa.Column("subscription_id", sa.Text, primary_key=True),
    )
    op.create_index("push_regions_by_subscription", "push_regions", ["subscription_id"])


def downgrade() -> None:
    op.drop_index("push_regions_by_subscription", "push_regions")
    op.drop_table("push_regions")
    op.drop_table("push_subscriptions")
