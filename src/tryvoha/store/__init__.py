"""The event log and what is stored beside it, behind a few small protocols (store.base)."""

from tryvoha.store.base import SchemaError, Store, StoreError
from tryvoha.store.urls import kind_of, redact


def open_store(url: str) -> Store:
    """A store for a URL: sqlite:///path (the default) or postgresql://user:pass@host/db."""
    if kind_of(url) == "sqlite":
        from tryvoha.store.sqlite import SqliteStore

        return SqliteStore(url)
    from tryvoha.store.postgres import PostgresStore

    return PostgresStore(url)


__all__ = ["SchemaError", "Store", "StoreError", "open_store", "redact"]
