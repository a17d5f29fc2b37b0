"""Settings: one table. Each is a CLI flag of `tryvoha serve` and a TRYVOHA_* variable."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

DEFAULT_STORE = "sqlite:///var/tryvoha.db"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    store: str = DEFAULT_STORE
    workers: int = 1
    max_body_bytes: int = 65_536
    log_level: str = "info"
    access_log: bool = False


HELP: dict[str, str] = {
    "host": "address to listen on",
    "port": "TCP port to listen on (0 picks a free one)",
    "store": "where the event log lives: sqlite:///path/to/file.db",
    "workers": "serving processes on this box, or auto (one per core); several share one event stream (see docs/self-host.md)",
    "max_body_bytes": "largest request body accepted; larger gets 413",
    "log_level": "debug, info, warning or error",
    "access_log": "log every request",
}


def env_name(name: str) -> str:
    return "TRYVOHA_" + name.upper()


def describe() -> list[tuple[str, str, Any, str]]:
    """(name, env variable, default, help) for every setting: the docs are generated from it."""
    return [(f.name, env_name(f.name), f.default, HELP[f.name]) for f in fields(Settings)]
