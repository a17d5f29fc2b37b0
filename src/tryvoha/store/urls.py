"""Store URLs: which backend, where, and how to show one without its password."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from tryvoha.store.base import StoreError

Kind = Literal["sqlite", "postgresql"]
POSTGRES_SCHEMES = ("postgresql", "postgres")


def kind_of(url: str) -> Kind:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        return "sqlite"
    if scheme in POSTGRES_SCHEMES:
        return "postgresql"
    raise StoreError(
        f"unknown store '{scheme}' in '{redact(url)}': use sqlite:///path/to/file.db"
        " or postgresql://user:password@host:port/database"
    )


def sqlite_path(url: str) -> Path:
    """sqlite:///var/tryvoha.db is relative to the working directory, sqlite:////srv/t.db absolute."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StoreError(f"'{url}' is not a SQLite URL; write sqlite:///path/to/file.db")
    return Path(url[len(prefix) :])


def redact(url: str) -> str:
    """The URL with its password as ***, for messages and logs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.split("://", 1)[0] + "://***"
    if not password:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=netloc[0].rsplit(":", 1)[0] + ":***@" + netloc[1]))


def sqlalchemy_url(url: str) -> str:
    """The URL SQLAlchemy (and so Alembic) takes for the same store."""
    if kind_of(url) == "sqlite":
        return f"sqlite:///{sqlite_path(url)}"
    return "postgresql+asyncpg://" + url.split("://", 1)[1]
