"""Durable writes: declare and clear latency over one keep-alive connection with a real
token, one request at a time, against a bare Python sqlite3 INSERT + COMMIT with the same
pragmas (journal_mode=WAL, synchronous=FULL) into a file on the same disk.

A declare is acknowledged only after its event is durably committed (DESIGN.md,
guarantee 1), so its latency is bounded below by one fsync; the bare insert is that
bound as Python reaches it. The two are interleaved (declare, insert, clear, insert) so
that both sample the disk under the same conditions.

A request that does nothing (`GET /api/v1/alerts/active`, answered from memory) is
interleaved too: its round trip is part of every declare's latency and of none of the
bare inserts', and shows how much of the difference is loopback and wake-ups.
The client is a blocking socket, so that no client event loop is in the timings.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from bench import procs
from bench.fanout import MESSAGE, expect_status
from bench.http import BlockingHttp
from bench.options import Options
from bench.profile import Profiler
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
    round_trip_ms: dict[str, float] = field(default_factory=dict)
    row_bytes: int = 0
    filesystem: str = ""
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    profile: str | None = None
    declare_samples: list[float] = field(default_factory=list, repr=False)  # not in the JSON

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["declare_samples"]
        return data


class BareSqlite:
    """INSERT + COMMIT of one row, timed; the same pragmas as tryvoha's store."""

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, type TEXT, data BLOB)")

    def insert(self, row: bytes) -> float:
        start = time.perf_counter_ns()
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT INTO events (type, data) VALUES (?, ?)", ("alert.declared", row))
        self.db.execute("COMMIT")
        return (time.perf_counter_ns() - start) / 1e6

    def close(self) -> None:
        self.db.close()


def declare_and_clear(
    server: Tryvoha,
    body: bytes,
    pairs: int,
    bare: BareSqlite,
    writes: Writes,
    keys: str = "bench",
    auth: dict[str, str] | None = None,
    warm_up: int = WARM_UP,
) -> None:
    """Declare, insert, no-op, clear, insert, ...; keeps every latency after the warm-up."""
    declares: list[float] = []
    clears: list[float] = []
    inserts: list[float] = []
    trips: list[float] = []
    http = BlockingHttp(HOST, server.port)
    try:
        for i in range(warm_up + pairs):
            headers = {**(auth or server.auth), "Idempotency-Key": f"{keys}-declare-{i}"}
            reply = http.request("POST", "/api/v1/alerts", headers, body)
            expect_status(reply, 201, "declare")
            first = bare.insert(reply.body)  # a row as big as one alert's answer
            trip = http.request("GET", "/api/v1/alerts/active")
            expect_status(trip, 200, "GET /api/v1/alerts/active")
            alert_id = reply.json()["alerts"][0]["id"]
            headers = {**(auth or server.auth), "Idempotency-Key": f"{keys}-clear-{i}"}
            cleared = http.request("POST", f"/api/v1/alerts/{alert_id}/clear", headers)
            expect_status(cleared, 200, "clear")
            second = bare.insert(reply.body)
            if i >= warm_up:
                declares.append(reply.ms)
                clears.append(cleared.ms)
                trips.append(trip.ms)
                inserts += [first, second]
            writes.row_bytes = len(reply.body)
    finally:
        http.close()
    writes.round_trip_ms = latency_summary(trips, len(trips))
    writes.declare_ms = latency_summary(declares, len(declares))
    writes.declare_samples = declares
    writes.clear_ms = latency_summary(clears, len(clears))
    writes.bare_sqlite_ms = latency_summary(inserts, len(inserts))


async def run_writes(options: Options, console: Console) -> Writes:
    writes = Writes(requests=options.writes)
    workers = options.tryvoha_workers_for_requests()
    server = Tryvoha(options.tmp / "writes-tryvoha", workers)
    writes.filesystem = procs.filesystem(server.dir)
    bare = BareSqlite(options.tmp / "writes-bare.db")
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
            f"  writes: {2 * pairs} sequential declares and clears on tryvoha, "
            "each followed by a bare sqlite3 INSERT + COMMIT ...",
            highlight=False,
        )
        profiler = (
            Profiler(server.pids()[0], options.results, f"{options.stamp}-writes")
            if options.profile
            else None
        )
        with profiler or contextlib.nullcontext():
            declare_and_clear(server, body, pairs, bare, writes)  # nothing else runs meanwhile
        if profiler is not None:
            writes.profile = profiler.summary()
    except (ServerError, OSError, TimeoutError) as e:
        writes.error = f"{type(e).__name__}: {e}"
        console.print(f"[red]writes: {writes.error}"[:500], highlight=False)
    finally:
        bare.close()
        writes.problems = server.problems()[:50]
        await server.stop()
    return writes
