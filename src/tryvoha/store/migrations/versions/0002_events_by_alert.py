"""The events of one alert, for the references of its CAP messages: an index on
events (alert_id, seq).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

On SQLite this is the schema of the numbered migrations' last (4), so a file made by them
is stamped 0002.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("events_by_alert", "events", ["alert_id", "seq"])


def downgrade() -> None:
    op.drop_index("events_by_alert", table_name="events")
