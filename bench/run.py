"""`python -m bench.run`: tryvoha against nginx+nchan and nginx static, side by side.

    python -m bench.run [--sizes 1000,10000,50000] [--workers W] [--repeat K]
                        [--only fanout,memory,polling,writes,bulk,edges,webhooks,mqtt] [--transports sse,ws]

See bench/README.md for the method and how to read the results.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from bench import procs
from bench.fanout import Fanout, Phase
from bench.options import SECTIONS, TRANSPORTS, Options
from bench.polling import Polling, run_polling
from bench.report import print_all, write_json
from bench.servers import NCHAN_MODULE
from bench.writes import Writes, run_writes

if TYPE_CHECKING:
    from bench.bulk import Bulk
    from bench.mqtt import Mqtt
    from bench.webhooks import Hooks

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BUSY_WARNING_PCT = 10.0
NICE = -10  # shields the measured processes from unrelated work on the box (as root)


def int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v.replace("_", "")) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("give positive numbers, e.g. 1000,10000")
    return values


def auto_int(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number or 'auto', not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def names(allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> tuple[str, ...]:
        chosen = tuple(v.strip() for v in text.split(",") if v.strip())
        wrong = [v for v in chosen if v not in allowed]
        if wrong or not chosen:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}")
        return chosen

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="tryvoha vs nginx+nchan: fan-out, memory, polling, durable writes; bulk moves vs a bare bulk insert.",
    )
    p.add_argument(
        "--sizes",
        type=int_list,
        default=(1_000, 10_000, 50_000),
        help="subscriber counts N (default 1000,10000,50000)",
    )
    p.add_argument(
        "--workers",
        type=auto_int,
        default=None,
        metavar="W|auto",
        help="tryvoha serve --workers; auto: fan-out the fewest that hold N "
        "(18,000 each), polling and writes 1, the default of tryvoha serve (default auto)",
    )
    p.add_argument(
        "--nginx-workers",
        type=auto_int,
        default=None,
        metavar="W|auto",
        help="nginx worker_processes; auto: one per core, more if N needs them",
    )
    p.add_argument(
        "--client-processes",
        type=auto_int,
        default=None,
        metavar="P|auto",
        help="fan-out client processes (auto: ~12,500 subscribers each, at least 2)",
    )
    p.add_argument(
        "--only",
        type=names(SECTIONS),
        default=SECTIONS,
        help="sections to run: fanout,memory,polling,writes,bulk,edges,webhooks,mqtt (default all)",
    )
    p.add_argument(
        "--transports",
        type=names(TRANSPORTS),
        default=TRANSPORTS,
        help="fan-out transports: sse,ws (default both)",
    )
    p.add_argument("--repeat", type=int, default=5, help="timed rounds per fan-out phase")
    p.add_argument("--poll-seconds", type=int, default=10, help="wrk duration per run")
    p.add_argument("--poll-connections", type=int, default=100, help="wrk connections")
    p.add_argument("--writes", type=int, default=500, help="declare + clear requests")
    p.add_argument(
        "--bulk-alerts",
        type=int,
        default=None,
        help="bulk: the first N alerts of the shipped record (default all, ~160,000 events)",
    )
    p.add_argument(
        "--bare-declare",
        action="store_true",
        help="fan-out declares name the regions only (no threats, no message): "
        "smaller events, ~13 KB per subscriber instead of ~21 KB",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the tryvoha server during fan-out rounds and writes (perturbs timings)",
    )
    p.add_argument(
        "--tmp-dir",
        type=Path,
        default=None,
        help="where servers keep their files (default: the system temp dir)",
    )
    p.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    p.add_argument("--keep-tmp", action="store_true", help="keep logs and databases")
    p.add_argument(
        "--wait-quiet",
        type=int,
        default=0,
        metavar="SECONDS",
        help="wait up to this long for other work on the machine to stop",
    )
    return p


def missing_tools(sections: frozenset[str]) -> list[str]:
    missing = []
    if {"fanout", "memory", "polling"} & sections and shutil.which("nginx") is None:
        missing.append("nginx")
    if {"fanout", "memory"} & sections and not NCHAN_MODULE.exists():
        missing.append(f"libnginx-mod-nchan ({NCHAN_MODULE})")
    if "polling" in sections and shutil.which("wrk") is None:
        missing.append("wrk")
    if {"bulk", "edges"} & sections and not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        missing.append("postgresql")
    if "edges" in sections and not (
        shutil.which("nats-server") or Path("/usr/sbin/nats-server").exists()
    ):
        missing.append("nats-server")
    if "mqtt" in sections and not Path("/usr/sbin/mosquitto").exists():
        missing.append("mosquitto")
    return missing


def raise_priority(console: Console) -> int:
    """Run (and so start every server and client) at a higher priority when allowed."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)
    except (PermissionError, OSError):
        console.print("[dim]running at normal priority (raising it needs root)")
        return os.getpriority(os.PRIO_PROCESS, 0)
    return NICE


async def main(args: argparse.Namespace, console: Console) -> int:
    sections = frozenset(args.only)
    missing = missing_tools(sections)
    if missing:
        console.print(f"[red]missing: {', '.join(missing)} — run `make system-bench`")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="tryvoha-bench-", dir=args.tmp_dir))
    tmp.chmod(0o755)  # nginx workers run as an unprivileged user when started as root
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    options = Options(
        tmp=tmp,
        results=args.results,
        stamp=stamp,
        sizes=tuple(args.sizes),
        workers=args.workers,
        nginx_workers=args.nginx_workers,
        client_processes=args.client_processes,
        repeat=max(1, args.repeat),
        sections=sections,
        transports=tuple(args.transports),
        poll_seconds=args.poll_seconds,
        poll_connections=args.poll_connections,
        writes=args.writes,
        profile=args.profile,
        bare_declare=args.bare_declare,
        bulk_alerts=args.bulk_alerts,
    )
    nice = raise_priority(console)
    machine = procs.machine(ROOT, tmp)
    other = procs.other_load(1.0)
    deadline = time.monotonic() + args.wait_quiet
    while other > BUSY_WARNING_PCT and time.monotonic() < deadline:
        console.print(f"[dim]waiting: other processes use {other:.0f}% of the CPUs")
        await asyncio.sleep(10)
        other = procs.other_load(2.0)
    console.print(
        f"[bold]tryvoha bench[/] {stamp}: {machine['cpu_model']}, {machine['cores']} cores, "
        f"kernel {machine['kernel']}, Python {machine['python']}, "
        f"tryvoha {machine['tryvoha_commit'][:10]}; temp {machine['tmp_filesystem']}",
        highlight=False,
    )
    if other > BUSY_WARNING_PCT:
        console.print(
            f"[yellow]other processes use {other:.0f}% of the CPUs right now: expect noise",
            highlight=False,
        )
    t0 = time.monotonic()
    phases: list[Phase] = []
    polling: Polling | None = None
    writes: Writes | None = None
    bulk: Bulk | None = None
    edges: list[Phase] = []
    hooks: Hooks | None = None
    mqtt: Mqtt | None = None
    failed = False
    try:
        if {"fanout", "memory"} & sections:
            console.rule("fan-out and memory")
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                phases = await Fanout(options, console, progress).run()
        if "edges" in sections:
            from bench.edges import run_edges  # PostgreSQL and NATS, started here

            console.rule("edge fan-out")
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                edges = await run_edges(options, console, progress)
        if "polling" in sections:
            console.rule("polling")
            polling = await run_polling(options, console)
        if "writes" in sections:
            console.rule("durable writes")
            writes = await run_writes(options, console)
        if "bulk" in sections:
            from bench.bulk import run_bulk  # PostgreSQL's driver, the store's transfer

            console.rule("bulk moves")
            bulk = await run_bulk(options, console)
        if "webhooks" in sections:
            from bench.webhooks import run_webhooks

            console.rule("declares while delivering webhooks")
            hooks = await run_webhooks(options, console)
        if "mqtt" in sections:
            from bench.mqtt import run_mqtt

            console.rule("MQTT")
            mqtt = await run_mqtt(options, console)
    finally:
        console.rule("results")
        if bulk is not None:
            from bench.bulk import bulk_table

            console.print(bulk_table(bulk))
        if edges:
            from bench.edges import edges_table

            console.print(edges_table(edges))
        if hooks is not None:
            from bench.webhooks import webhooks_table

            console.print(webhooks_table(hooks))
        if mqtt is not None:
            from bench.mqtt import mqtt_table

            console.print(mqtt_table(mqtt))
        found = print_all(console, phases, polling, writes, sections)
        failed = (
            any(p.error or p.problems for p in phases + edges)
            or bool(polling and (polling.error or polling.problems))
            or bool(writes and (writes.error or writes.problems))
            or bool(bulk and (bulk.error or bulk.problems))
            or bool(hooks and (hooks.error or hooks.problems))
            or bool(mqtt and (mqtt.error or mqtt.problems))
        )
        source_after = procs.source_state(ROOT)
        if source_after != machine["tryvoha_source_state"]:
            console.print(
                "[yellow]tryvoha's source changed while the bench ran (git HEAD or src/): "
                "servers started at different times may have run different code",
                highlight=False,
            )
        data: dict[str, Any] = {
            "tryvoha_source_state_after": source_after,
            "started_at": started.isoformat(),
            "duration_seconds": round(time.monotonic() - t0, 1),
            "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
            "machine": machine,
            "other_load_before_pct": round(other, 1),
            "nice": nice,
            "options": {
                "sizes": options.sizes,
                "workers": options.workers or "auto",
                "nginx_workers": options.nginx_workers or "auto",
                "client_processes": options.client_processes or "auto",
                "repeat": options.repeat,
                "sections": sorted(sections),
                "transports": options.transports,
                "poll_seconds": options.poll_seconds,
                "poll_connections": options.poll_connections,
                "poll_threads": options.poll_threads,
                "writes": options.writes,
                "profiled": options.profile,
                "bare_declare": options.bare_declare,
                "bulk_alerts": options.bulk_alerts,
            },
            "fanout": [p.to_json() for p in phases],
            "polling": polling.to_json() if polling else None,
            "writes": writes.to_json() if writes else None,
            "bulk": bulk.to_json() if bulk else None,
            "edges": [p.to_json() for p in edges],
            "webhooks": hooks.to_json() if hooks else None,
            "mqtt": mqtt.to_json() if mqtt else None,
            "targets": [t.to_json() for t in found],
        }
        path = write_json(options.results, stamp, data)
        console.print(f"results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        if failed or args.keep_tmp:
            console.print(f"[yellow]server logs and client logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


def run() -> None:
    args = parser().parse_args()
    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough for the tables
        console = Console(width=150)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of tryvoha
        code = asyncio.run(main(args, console))
    else:
        code = uvloop.run(main(args, console))
    sys.exit(code)


if __name__ == "__main__":
    run()
