"""Durable writes: declare and clear latency over one keep-alive connection with a real
token, one request at a time, against a bare Python sqlite3 INSERT + COMMIT with the same
pragmas (journal_mode=WAL, synchronous=FULL) into a file on the same disk.

A declare is acknowledged only after its event is durably committed (DESIGN.md,
guarantee 1), so its latency is bounded below by one fsync; the bare insert is that
bound as Python reaches it.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from bench import procs
from bench.fanout import MESSAGE, expect_status
from bench.http import Http
from bench.options import Options
from bench.servers import HOST, ServerError, Tryvoha
from bench.stats import latency_summary

WARM_UP = 20
REGION = "UA46000000000026241"  # Lviv oblast


@dataclass(slots=True)
class Writes:
    requests: int = 0
    tryvoha_workers: int = 0
    declare_ms: dict[str, float] = field(default_factory=dict)
    clear_ms: dict[str, float] = field(default_factory=dict)
    bare_sqlite_ms: dict[str, float] = field(default_factory=dict)
    row_bytes: int = 0
    filesystem: str = ""
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def bare_sqlite(path: Path, count: int, row: bytes) -> list[float]:
    """INSERT + COMMIT, `count` times, each timed; the same pragmas as tryvoha's store."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, type TEXT, data BLOB)")
        times: list[float] = []
        for i in range(WARM_UP + count):
            start = time.perf_counter_ns()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO events (type, data) VALUES (?, ?)", ("alert.declared", row))
            db.execute("COMMIT")
            if i >= WARM_UP:
                times.append((time.perf_counter_ns() - start) / 1e6)
        return times
    finally:
        db.close()


async def run_writes(options: Options, console: Console) -> Writes:
    writes = Writes(requests=options.writes)
    workers = options.tryvoha_workers_for_requests()
    server = Tryvoha(options.tmp / "writes-tryvoha", workers)
    writes.filesystem = procs.filesystem(server.dir)
    declares: list[float] = []
    clears: list[float] = []
    row = b""
    try:
        try:
            await server.start()
        except ServerError:
            if options.workers is not None or workers == 1:
                raise
            writes.notes.append(f"--workers {workers} failed; measured with --workers 1")
            await server.stop()
            server = Tryvoha(options.tmp / "writes-tryvoha-w1", 1)
            await server.start()
        writes.tryvoha_workers = server.workers
        body = orjson.dumps(
            {"regions": [REGION], "threats": ["ballistic_missiles"], "message": MESSAGE}
        )
        pairs = (options.writes + 1) // 2
        console.print(
            f"  writes: {2 * pairs} sequential declares and clears on tryvoha ...",
            highlight=False,
        )
        async with Http(HOST, server.port) as http:
            for i in range(WARM_UP + pairs):
                headers = {**server.auth, "Idempotency-Key": f"bench-declare-{i}"}
                reply = await http.request("POST", "/api/v1/alerts", headers, body)
                expect_status(reply, 201, "declare")
                alert_id = reply.json()["alerts"][0]["id"]
                headers = {**server.auth, "Idempotency-Key": f"bench-clear-{i}"}
                cleared = await http.request("POST", f"/api/v1/alerts/{alert_id}/clear", headers)
                expect_status(cleared, 200, "clear")
                if i >= WARM_UP:
                    declares.append(reply.ms)
                    clears.append(cleared.ms)
                else:
                    row = reply.body
    except (ServerError, OSError, TimeoutError) as e:
        writes.error = f"{type(e).__name__}: {e}"
        console.print(f"[red]writes: {writes.error}"[:500], highlight=False)
    finally:
        writes.problems = server.problems()[:50]
        await server.stop()
    if declares:
        writes.declare_ms = latency_summary(declares, len(declares))
        writes.clear_ms = latency_summary(clears, len(clears))
    # The same disk, the same size of row as the declare's answer holds for one alert.
    writes.row_bytes = len(row) or 600
    console.print(f"  writes: {options.writes} bare sqlite3 INSERT + COMMIT ...", highlight=False)
    bare = bare_sqlite(options.tmp / "writes-bare.db", options.writes, row or b"x" * 600)
    writes.bare_sqlite_ms = latency_summary(bare, len(bare))
    return writes
