"""The bench's options, shared by its sections."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ("fanout", "memory", "polling", "writes", "bulk", "edges", "webhooks", "mqtt")
TRANSPORTS = ("sse", "ws")
SUBSCRIBERS_PER_SERVER_PROCESS = 18_000  # the hard limit on open files is 20,000 here


@dataclass(frozen=True, slots=True)
class Options:
    tmp: Path
    results: Path
    stamp: str = "run"  # names this run's files
    sizes: tuple[int, ...] = (1_000, 10_000, 50_000)
    workers: int | None = None  # tryvoha serve --workers; None: as many as N needs
    nginx_workers: int | None = None  # None: one per core, or as many as N needs
    client_processes: int | None = None
    repeat: int = 5
    sections: frozenset[str] = field(default_factory=lambda: frozenset(SECTIONS))
    transports: tuple[str, ...] = TRANSPORTS
    poll_seconds: int = 10
    poll_connections: int = 100
    poll_threads: int = 2
    writes: int = 500
    profile: bool = False
    bare_declare: bool = False  # fan-out declares name the regions only: no threats, no message
    bulk_alerts: int | None = None  # bulk: the first N alerts of the shipped record (None: all)

    def tryvoha_workers(self, n: int) -> int:
        """--workers as given, else the fewest processes that can hold n subscribers."""
        if self.workers is not None:
            return self.workers
        return max(1, math.ceil(n / SUBSCRIBERS_PER_SERVER_PROCESS))

    def tryvoha_workers_for_requests(self) -> int:
        """For polling and writes: --workers as given, else what the docs tell users to
        run in production, `--workers auto`: one process per core."""
        return self.workers if self.workers is not None else max(1, os.cpu_count() or 1)
