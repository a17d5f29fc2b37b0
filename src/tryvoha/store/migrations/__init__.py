"""Alembic's scripts for the store's schema, for SQLite and PostgreSQL alike (see store.schema)."""
