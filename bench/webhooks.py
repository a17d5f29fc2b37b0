"""Webhooks and writes: the latency of a declare while tryvoha delivers to two hundred
webhook endpoints, half of them dead, against the same server with none, in one run.

One tryvoha with `--workers 1`: the process that answers the declares is also the one
that delivers every webhook (with several processes it would be one of them: this is the
worst case). Its endpoints live in a process of their own (`bench/hook_receivers.py`):
100 answer every POST with 204 at once, 50 accept connections and never answer (each
attempt times out), 50 refuse connections. Default retry schedule and timeout.

Three phases of `--writes` sequential declares and clears, made as the writes section
makes them (one keep-alive connection, one request at a time, a bare SQLite insert in
between): without endpoints, with the 200, and without again. The first and third are
pooled as the reference; the ratio is the p50 and p99 with endpoints over those without.
Also reported: the deliveries the answering endpoints got, and how long after the last
declare they all had every event.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.fanout import MESSAGE, expect_status
from bench.http import BlockingHttp, Http
from bench.options import Options
from bench.servers import HOST, ServerError, Spawned, Tryvoha, tryvoha_command
from bench.stats import latency_summary, ratio
from bench.writes import REGION, BareSqlite, Writes, declare_and_clear

ANSWERING, SILENT, REFUSED = 100, 50, 50
DRAIN_SECONDS = 120.0
WARM_REGION = "UA63000000000041885"  # Kharkiv oblast
START_SECONDS = 30.0


@dataclass(slots=True)
class Hooks:
    requests: int = 0
    endpoints: dict[str, int] = field(default_factory=dict)
    without_ms: dict[str, float] = field(default_factory=dict)
    with_ms: dict[str, float] = field(default_factory=dict)
    p50_ratio: float | None = None
    p99_ratio: float | None = None
    events_with: int = 0
    deliveries: int = 0
    drained_after_s: float | None = None  # after the last declare, until all had it all
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Receivers(Spawned):
    name = "hook receivers"

    async def start(self) -> dict[str, list[int]]:
        self.spawn([sys.executable, str(Path(__file__).with_name("hook_receivers.py"))])
        deadline = time.monotonic() + START_SECONDS
        while True:
            for line in self.log.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    ports: dict[str, list[int]] = orjson.loads(line)
                    return ports
            if (why := self.exited()) is not None:
                raise ServerError(why)
            if time.monotonic() > deadline:
                raise ServerError(f"the receivers did not start:\n{self.tail()}")
            await asyncio.sleep(0.05)


def admin_token(server: Tryvoha) -> dict[str, str]:
    done = subprocess.run(
        [
            *tryvoha_command(),
            *("token", "create", "--name", "hooks", "--role", "admin"),
            *("--scope", "UA", "--store", server.store),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=server.dir,
    )
    if done.returncode != 0:
        raise ServerError(f"tryvoha token create failed:\n{done.stdout}{done.stderr}")
    token = done.stdout.strip().splitlines()[-1]
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def stats(port: int) -> dict[str, int]:
    async with Http(HOST, port) as http:
        reply = await http.request("GET", "/stats")
    found: dict[str, int] = reply.json()
    return found


async def subscribe(
    server: Tryvoha, auth: dict[str, str], ports: dict[str, list[int]]
) -> list[str]:
    ids = []
    async with Http(HOST, server.port) as http:
        for kind in ("answering", "silent", "refused"):
            for port in ports[kind]:
                body = orjson.dumps({"url": f"http://{HOST}:{port}/hook", "description": kind})
                made = await http.request("POST", "/api/v1/webhooks", auth, body)
                expect_status(made, 201, "POST /api/v1/webhooks")
                ids.append(made.json()["id"])
    return ids


async def unsubscribe(server: Tryvoha, auth: dict[str, str], ids: list[str]) -> None:
    async with Http(HOST, server.port) as http:
        for webhook_id in ids:
            gone = await http.request("DELETE", f"/api/v1/webhooks/{webhook_id}", auth)
            expect_status(gone, 204, "DELETE /api/v1/webhooks/{id}")


async def head(server: Tryvoha) -> int:
    async with Http(HOST, server.port) as http:
        return int((await http.request("GET", "/api/v1/alerts/active")).json()["seq"])


async def until(check: Any, seconds: float, what: str) -> float:
    """Wait for `await check()`; the seconds it took."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > seconds:
            raise TimeoutError(f"{what}: not within {seconds:g} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def run_webhooks(options: Options, console: Console) -> Hooks:
    hooks = Hooks(requests=options.writes)
    server = Tryvoha(options.tmp / "webhooks-tryvoha", 1, ["--webhooks-allow-private"])
    receivers = Receivers(options.tmp / "webhooks-receivers")
    bare = BareSqlite(options.tmp / "webhooks-bare.db")
    body = orjson.dumps(
        {"regions": [REGION], "threats": ["ballistic_missiles"], "message": MESSAGE}
    )
    pairs = (options.writes + 1) // 2
    try:
        ports = await receivers.start()
        hooks.endpoints = {kind: len(p) for kind, p in ports.items()}
        await server.start()
        auth = admin_token(server)

        def phase(name: str) -> Writes:
            writes = Writes()
            declare_and_clear(server, body, pairs, bare, writes, keys=name, auth=auth)
            return writes

        console.print(f"  webhooks: {2 * pairs} declares and clears without endpoints ...")
        first = phase("before")
        ids = await subscribe(server, auth, ports)
        warm = await head(server) + 1
        http = BlockingHttp(HOST, server.port)
        elsewhere = orjson.dumps({"regions": [WARM_REGION]})  # Lviv stays for the phases
        expect_status(
            http.request("POST", "/api/v1/alerts", {**auth, "Idempotency-Key": "warm"}, elsewhere),
            201,
            "declare",
        )
        http.close()
        answering = ports["answering"][0]
        await until(lambda: _reached(answering, warm), START_SECONDS, "the endpoints' first event")
        before = await stats(answering)
        console.print(
            f"  webhooks: {2 * pairs} declares and clears with {len(ids)} endpoints "
            f"({ANSWERING} answering, {SILENT} silent, {REFUSED} refusing) ...",
            highlight=False,
        )
        start_seq = await head(server)
        during = phase("with")
        last = await head(server)
        hooks.events_with = last - start_seq
        hooks.drained_after_s = round(
            await until(lambda: _reached(answering, last), DRAIN_SECONDS, "the drain"), 2
        )
        hooks.deliveries = (await stats(answering))["requests"] - before["requests"]
        await unsubscribe(server, auth, ids)
        await asyncio.sleep(2.0)  # the courier stops: no endpoint left
        console.print(f"  webhooks: {2 * pairs} declares and clears without endpoints again ...")
        third = phase("after")
        without = _pooled(first, third)
        hooks.without_ms = latency_summary(without, len(without))
        hooks.with_ms = during.declare_ms
        hooks.p50_ratio = ratio(hooks.with_ms.get("p50"), hooks.without_ms.get("p50"))
        hooks.p99_ratio = ratio(hooks.with_ms.get("p99"), hooks.without_ms.get("p99"))
    except (ServerError, OSError, TimeoutError) as e:
        hooks.error = f"{type(e).__name__}: {e}"
        console.print(f"[red]webhooks: {hooks.error}"[:500], highlight=False)
    finally:
        bare.close()
        hooks.problems = server.problems()[:50]
        await server.stop()
        await receivers.stop()
    return hooks


async def _reached(port: int, seq: int) -> bool:
    return (await stats(port))["min_last_seq"] >= seq


def _pooled(*phases: Writes) -> list[float]:
    """Every declare latency of these phases."""
    found: list[float] = []
    for writes in phases:
        found += writes.declare_samples
    return found


def webhooks_table(hooks: Hooks) -> Table:
    table = Table(
        title=f"Declares with {sum(hooks.endpoints.values())} webhook endpoints "
        f"({hooks.endpoints.get('answering', 0)} answering, {hooks.endpoints.get('silent', 0)} "
        f"never answering, {hooks.endpoints.get('refused', 0)} refusing) vs none, "
        "--workers 1 (the answering process delivers)",
    )
    for column in ("", "without (ms)", "with (ms)", "ratio"):
        table.add_column(column, justify="right")
    for key in ("p50", "p90", "p99", "max"):
        a, b = hooks.with_ms.get(key), hooks.without_ms.get(key)
        table.add_row(
            f"declare {key}",
            _ms(b),
            _ms(a),
            _ratio(ratio(a, b)),
        )
    table.add_row(
        "deliveries during",
        "",
        f"{hooks.deliveries:,} of {hooks.events_with * hooks.endpoints.get('answering', 0):,}",
        "",
    )
    drained = "—" if hooks.drained_after_s is None else f"{hooks.drained_after_s:g} s"
    table.add_row("all delivered after the last declare", "", drained, "")
    return table


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"
