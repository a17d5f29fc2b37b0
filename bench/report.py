"""The results: a table per section with tryvoha, the reference and their ratio side by
side, the issue's targets marked met or not, and the whole as JSON."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.fanout import Phase
from bench.polling import IOT_PATH, PATH, Polling
from bench.stats import ratio
from bench.writes import Writes

TRYVOHA = "tryvoha"
NCHAN = "nginx+nchan"


@dataclass(frozen=True, slots=True)
class Target:
    """A target of issue 5: `ratio` (tryvoha / reference) must be <= or >= `limit`."""

    name: str
    limit: float
    at_most: bool  # True: ratio <= limit is met; False: ratio >= limit
    ratio: float | None
    detail: str = ""

    @property
    def met(self) -> bool | None:
        if self.ratio is None:
            return None
        return self.ratio <= self.limit if self.at_most else self.ratio >= self.limit

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limit": self.limit,
            "comparison": "<=" if self.at_most else ">=",
            "ratio": None if self.ratio is None or math.isinf(self.ratio) else self.ratio,
            "met": self.met,
            "detail": self.detail,
        }


FANOUT_TARGETS = {10_000: 0.75, 50_000: 0.5}  # time to all, SSE, tryvoha / nchan
MEMORY_TARGET = 0.5
POLLING_TARGET = 0.5
WRITES_TARGET = 2.0


def ms(value: float | None) -> str:
    if value is None or math.isinf(value):
        return "—"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:,.1f} ms"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


def show_ratio(value: float | None) -> str:
    if value is None:
        return "—"
    return "∞" if math.isinf(value) else f"{value:.2f}×"


def verdict(met: bool | None) -> str:
    return {True: "[green]met", False: "[red]not met", None: "[yellow]not measured"}[met]


def limit_text(limit: float, at_most: bool) -> str:
    return f"{'≤' if at_most else '≥'} {limit:g}×"


def pair(phases: list[Phase], transport: str, n: int) -> tuple[Phase | None, Phase | None]:
    ours = theirs = None
    for phase in phases:
        if phase.transport == transport and phase.n == n:
            if phase.server == TRYVOHA:
                ours = phase
            elif phase.server == NCHAN:
                theirs = phase
    return ours, theirs


def sizes_of(phases: list[Phase]) -> list[int]:
    return sorted({p.n for p in phases})


# -- fan-out ------------------------------------------------------------------------


def fanout_table(phases: list[Phase], transport: str) -> Table:
    table = Table(
        title=f"Fan-out over {'SSE' if transport == 'sse' else 'WebSocket'}: "
        "one nationwide declare (27 events) vs one nchan publish of the same size; "
        "latency from the request's send to each subscriber's last event",
        title_justify="left",
    )
    for col in ("N", "", TRYVOHA, NCHAN, "ratio", "target"):
        table.add_column(col, justify="left" if col in ("", "target") else "right")
    for n in sizes_of(phases):
        ours, theirs = pair(phases, transport, n)
        if ours is None and theirs is None:
            continue
        so = ours.summary() if ours else {}
        st = theirs.summary() if theirs else {}
        target = FANOUT_TARGETS.get(n) if transport == "sse" else None
        table.add_section()
        for label, key in (
            ("p50", "p50_ms"),
            ("p99", "p99_ms"),
            ("max", "max_ms"),
            ("time to all", "time_to_all_ms"),
        ):
            a, b = so.get(key), st.get(key)
            r = ratio(a, b)
            goal = ""
            if key == "time_to_all_ms" and target is not None:
                goal = f"{limit_text(target, True)} {verdict(None if r is None else r <= target)}"
            first = f"{n:,}" if key == "p50_ms" else ""
            table.add_row(first, label, ms(a), ms(b), show_ratio(r), goal)
        table.add_row(
            "",
            "request answered",
            ms(so.get("reply_ms")),
            ms(st.get("reply_ms")),
            "",
            "[dim]declare / publish",
            style="dim",
        )
        table.add_row("", "received all", received(ours), received(theirs), "", "", style="dim")
        table.add_row(
            "",
            "bytes / subscriber",
            count(so.get("bytes_per_subscriber")),
            count(st.get("bytes_per_subscriber")),
            "",
            "",
            style="dim",
        )
        table.add_row(
            "",
            "server CPU (100% = 1 core)",
            pct(so.get("server_busy_pct")),
            pct(st.get("server_busy_pct")),
            "",
            processes(ours, theirs),
            style="dim",
        )
        table.add_row(
            "",
            "client CPU, busiest process",
            pct(so.get("client_busy_max_pct")),
            pct(st.get("client_busy_max_pct")),
            "",
            clients(ours, theirs),
            style="dim",
        )
        table.add_row(
            "",
            "all cores busy / by others",
            f"{pct(so.get('machine_busy_pct'))} / {pct(so.get('other_busy_pct'))}",
            f"{pct(st.get('machine_busy_pct'))} / {pct(st.get('other_busy_pct'))}",
            "",
            "",
            style="dim",
        )
    return table


def received(phase: Phase | None) -> str:
    if phase is None:
        return "—"
    if phase.error:
        return "[red]failed"
    if not phase.rounds:
        c = phase.connect
        return f"[red]{c.get('connected', 0):,}/{phase.n:,} connected" if c else "—"
    worst = min(phase.rounds, key=lambda r: r.received_all - r.subscribers)
    text = f"{worst.received_all:,}/{phase.n:,}"
    errors = sum(sum(r.errors.values()) for r in phase.rounds)
    checks = phase.verification_rounds
    errors += sum(sum(c["errors"].values()) for c in checks)
    short = sum(c["missing"] for c in checks)
    if worst.received_all < phase.n or errors or short:
        extra = [f"{errors} errors"] if errors else []
        extra += [f"{short} short in untimed rounds"] if short else []
        return f"[red]{text}" + "".join(f", {e}" for e in extra)
    return text


def count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def processes(ours: Phase | None, theirs: Phase | None) -> str:
    a = ours.server_processes if ours else 0
    b = theirs.server_processes if theirs else 0
    return f"[dim]{a} tryvoha / {b} nginx workers"


def clients(ours: Phase | None, theirs: Phase | None) -> str:
    phase = ours or theirs
    n = phase.client_processes if phase is not None else 0
    return f"[dim]{n} client processes"


# -- memory -------------------------------------------------------------------------


def memory_table(phases: list[Phase]) -> Table:
    table = Table(
        title="Memory: RSS per idle subscriber = (RSS with N idle − RSS with none) / N, "
        "all serving processes (nginx: its workers)",
        title_justify="left",
    )
    for col in ("N", "transport", TRYVOHA, NCHAN, "ratio", "target"):
        table.add_column(col, justify="left" if col in ("transport", "target") else "right")
    for n in sizes_of(phases):
        for transport in ("sse", "ws"):
            ours, theirs = pair(phases, transport, n)
            if ours is None and theirs is None:
                continue
            a = ours.rss_per_subscriber if ours and complete(ours) else None
            b = theirs.rss_per_subscriber if theirs and complete(theirs) else None
            r = ratio(a, b)
            met = None if r is None else r <= MEMORY_TARGET
            table.add_row(
                f"{n:,}",
                transport.upper(),
                kib(a, ours),
                kib(b, theirs),
                show_ratio(r),
                f"{limit_text(MEMORY_TARGET, True)} {verdict(met)}",
            )
    return table


def complete(phase: Phase) -> bool:
    return bool(phase.connect) and phase.connect.get("connected") == phase.n


def kib(value: float | None, phase: Phase | None) -> str:
    if value is None:
        if phase is not None and phase.connect:
            return f"[red]{phase.connect.get('connected', 0):,} connected"
        return "—"
    base = phase.rss_base_bytes / 2**20 if phase else 0
    return f"{value / 1024:,.1f} KiB [dim](base {base:,.0f} MiB)"


# -- polling and writes -------------------------------------------------------------


def polling_table(polling: Polling) -> Table:
    table = Table(
        title=f"Polling GET /api/v1/alerts/active ({polling.body_bytes:,} B, 27 active) and "
        f"the alerts.in.ua IoT string vs nginx static, requests/s by wrk; tryvoha "
        f"{polling.tryvoha_workers} processes, nginx {polling.nginx_workers} workers",
        title_justify="left",
    )
    for col in ("request", TRYVOHA, "nginx static", "ratio", "target"):
        table.add_column(col, justify="left" if col in ("request", "target") else "right")
    for path, validator in ((PATH, "If-None-Match"), (IOT_PATH, "If-Modified-Since")):
        for conditional in (False, True):
            a = polling.rps("tryvoha", conditional, path)
            b = polling.rps("nginx", conditional, path)
            if a is None and b is None and path == IOT_PATH:
                continue  # a run from before the IoT string was measured
            r = ratio(a, b)
            met = None if r is None else r >= POLLING_TARGET
            p99 = {
                run.server: run.latency_p99_ms
                for run in polling.runs
                if run.conditional == conditional and run.path == path
            }
            short = "/api/v1/alerts/active" if path == PATH else "/v1/iot/…_by_oblast.json"
            table.add_row(
                f"{short} " + (f"{validator} → 304" if conditional else "plain → 200"),
                rps(a, p99.get("tryvoha")),
                rps(b, p99.get("nginx")),
                show_ratio(r),
                f"{limit_text(POLLING_TARGET, False)} {verdict(met)}",
            )
    for run in polling.runs:
        if run.errors:
            table.add_row(f"[red]{run.server} errors", str(run.errors), "", "", "")
    return table


def rps(value: float | None, p99: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}/s [dim](p99 {ms(p99)})"


def writes_table(writes: Writes) -> Table:
    table = Table(
        title=f"Durable writes: {writes.requests} sequential declares + clears over keep-alive "
        f"vs bare sqlite3 INSERT + COMMIT (WAL, synchronous=FULL) on {writes.filesystem}",
        title_justify="left",
    )
    columns = ("", TRYVOHA + " declare", TRYVOHA + " clear", "no-op round trip", "bare SQLite")
    for col in (*columns, "ratio", "target"):
        table.add_column(col, justify="left" if col in ("", "target") else "right")
    for key in ("p50", "p99", "max"):
        a = writes.declare_ms.get(key)
        b = writes.bare_sqlite_ms.get(key)
        r = ratio(a, b)
        goal = ""
        if key == "p99":
            goal = f"{limit_text(WRITES_TARGET, True)} {verdict(None if r is None else r <= WRITES_TARGET)}"
        table.add_row(
            key,
            ms_fine(a),
            ms_fine(writes.clear_ms.get(key)),
            ms_fine(writes.round_trip_ms.get(key)),
            ms_fine(b),
            show_ratio(r),
            goal,
        )
    return table


def ms_fine(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f} ms"


# -- targets and JSON -------------------------------------------------------------


def targets(phases: list[Phase], polling: Polling | None, writes: Writes | None) -> list[Target]:
    found: list[Target] = []
    for n, limit in FANOUT_TARGETS.items():
        ours, theirs = pair(phases, "sse", n)
        r = None
        if ours is not None and theirs is not None:
            r = ratio(ours.summary()["time_to_all_ms"], theirs.summary()["time_to_all_ms"])
            if r is None and ours.summary()["time_to_all_ms"] is None and complete(theirs):
                r = math.inf  # tryvoha did not reach all N, nchan did
        found.append(Target(f"fan-out time to all, SSE, N={n:,}", limit, True, r))
    measured = [
        (n, pair(phases, "sse", n)) for n in sizes_of(phases) if all(pair(phases, "sse", n))
    ]
    best = None
    for n, (ours, theirs) in reversed(measured):
        if ours is not None and theirs is not None and complete(ours) and complete(theirs):
            best = (n, ratio(ours.rss_per_subscriber, theirs.rss_per_subscriber))
            break
    found.append(
        Target(
            "memory per idle SSE subscriber",
            MEMORY_TARGET,
            True,
            best[1] if best else None,
            f"at N={best[0]:,}" if best else "",
        )
    )
    if polling is not None:
        for path, what in ((PATH, "If-None-Match"), (IOT_PATH, "If-Modified-Since")):
            plain = ratio(polling.rps("tryvoha", False, path), polling.rps("nginx", False, path))
            cond = ratio(polling.rps("tryvoha", True, path), polling.rps("nginx", True, path))
            worst = None if plain is None or cond is None else min(plain, cond)
            found.append(
                Target(
                    f"polling {path} requests/s (worse of plain, {what})",
                    POLLING_TARGET,
                    False,
                    worst,
                )
            )
    else:
        found.append(Target("polling requests/s", POLLING_TARGET, False, None))
    if writes is not None:
        r = ratio(writes.declare_ms.get("p99"), writes.bare_sqlite_ms.get("p99"))
        found.append(Target("durable declare p99", WRITES_TARGET, True, r))
    else:
        found.append(Target("durable declare p99", WRITES_TARGET, True, None))
    return found


def targets_table(found: list[Target]) -> Table:
    table = Table(title="Targets of issue 5 (tryvoha / reference)", title_justify="left")
    for col in ("target", "ratio", "limit", ""):
        table.add_column(col)
    for t in found:
        table.add_row(
            t.name + (f" [dim]({t.detail})" if t.detail else ""),
            show_ratio(t.ratio),
            limit_text(t.limit, t.at_most),
            verdict(t.met),
        )
    return table


def print_all(
    console: Console,
    phases: list[Phase],
    polling: Polling | None,
    writes: Writes | None,
    sections: frozenset[str],
) -> list[Target]:
    if "fanout" in sections:
        for transport in ("sse", "ws"):
            if any(p.transport == transport for p in phases):
                console.print(fanout_table(phases, transport))
    if "memory" in sections and phases:
        console.print(memory_table(phases))
    if polling is not None:
        console.print(polling_table(polling))
    if writes is not None:
        console.print(writes_table(writes))
    found = targets(phases, polling, writes)
    console.print(targets_table(found))
    return found


def write_json(results: Path, stamp: str, data: dict[str, Any]) -> Path:
    """bench/results/<stamp>.json and latest.json, each written whole or not at all."""
    results.mkdir(parents=True, exist_ok=True)
    body = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=str)
    path = results / f"{stamp}.json"
    for target in (path, results / "latest.json"):
        tmp = target.with_suffix(".json.tmp")
        tmp.write_bytes(body + b"\n")
        os.replace(tmp, target)
    return path
