"""Alembic's environment: runs on the connection store.schema opened and locked."""

from __future__ import annotations

from alembic import context

config = context.config
context.configure(
    connection=config.attributes["connection"],
    transactional_ddl=True,  # SQLite too: one upgrade is one transaction
    render_as_batch=True,  # SQLite alters a table by copying it
    on_version_apply=config.attributes.get("on_version_apply"),
)
with context.begin_transaction():
    context.run_migrations()
