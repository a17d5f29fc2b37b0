"""The event log and what is stored beside it, behind one small protocol."""

from tryvoha.store.base import Store, StoreError


def open_store(url: str) -> Store:
    """A store for a URL: sqlite:///path (the default). PostgreSQL comes later."""
    if url.startswith("sqlite:"):
        from tryvoha.store.sqlite import SqliteStore

        return SqliteStore(url)
    scheme = url.split(":", 1)[0]
    raise StoreError(f"unknown store '{scheme}' in '{url}': use sqlite:///path/to/file.db")


__all__ = ["Store", "StoreError", "open_store"]
