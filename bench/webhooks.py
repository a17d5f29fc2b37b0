"""Webhooks and writes: the latency of a declare while tryvoha delivers to two hundred
webhook endpoints, half of them dead, against the same server with none, in one run.

One tryvoha with `--workers 1`: the process that answers the declares is also the one
that delivers every webhook (with several processes it would be one of them: this is the
worst case). Its endpoints live in a process of their own (`bench/hook_receivers.py`):
100 answer every POST with 204 at once, 50 accept connections and never answer (each
attempt times out), 50 refuse connections. Default retry schedule and timeout.

Sequential declares and clears, made as the writes section makes them (one keep-alive
connection, one request at a time, a bare SQLite insert in between), `--writes` of them
in all, in three rounds: a block without endpoints, then the 200 are subscribed, a block
with them, and they are removed again. Alternating keeps the two under the same
conditions on a machine whose load drifts. The ratios are the p50 and p99 with endpoints
over those without. Also reported: the deliveries the answering endpoints got during the
blocks, and how long after the last declare they all had every event.
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
_BODY = orjson.dumps({"regions": [REGION], "threats": ["ballistic_missiles"], "message": MESSAGE})
DRAIN_SECONDS = 120.0
ROUNDS = 3
WARM_UP_PAIRS = 5
WARM_THREATS = ("artillery_shelling", "urban_fights", "chemical")  # one new alert a round
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


async def reach(port: int, seq: int, seconds: float, what: str) -> float:
    """Wait until every answering endpoint has had every event up to `seq`; how long."""
    start = time.monotonic()
    while (await stats(port))["min_last_seq"] < seq:
        if time.monotonic() - start > seconds:
            raise TimeoutError(f"{what}: not within {seconds:g} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def run_webhooks(options: Options, console: Console) -> Hooks:
    hooks = Hooks(requests=options.writes)
    server = Tryvoha(options.tmp / "webhooks-tryvoha", 1, ["--webhooks-allow-private"])
    receivers = Receivers(options.tmp / "webhooks-receivers")
    bare = BareSqlite(options.tmp / "webhooks-bare.db")
    pairs = max(10, options.writes // (2 * ROUNDS))
    try:
        ports = await receivers.start()
        hooks.endpoints = {kind: len(p) for kind, p in ports.items()}
        await server.start()
        auth = admin_token(server)
        console.print(
            f"  webhooks: {ROUNDS} rounds of {2 * pairs} declares and clears without endpoints,"
            f" then with {sum(hooks.endpoints.values())} ({ANSWERING} answering, {SILENT} silent,"
            f" {REFUSED} refusing) ...",
            highlight=False,
        )
        without: list[float] = []
        during: list[float] = []
        for n in range(ROUNDS):
            without += _phase(server, bare, pairs, f"without-{n}", auth)
            ids = await subscribe(server, auth, ports)
            await _warm(server, auth, ports, n)
            answering = ports["answering"][0]
            before = (await stats(answering))["requests"]
            start = await head(server)
            during += _phase(server, bare, pairs, f"with-{n}", auth)
            last = await head(server)
            hooks.events_with += last - start
            hooks.deliveries += (await stats(answering))["requests"] - before
            if n == ROUNDS - 1:
                drained = await reach(answering, last, DRAIN_SECONDS, "the drain")
                hooks.drained_after_s = round(drained, 2)
            await unsubscribe(server, auth, ids)
        hooks.without_ms = latency_summary(without, len(without))
        hooks.with_ms = latency_summary(during, len(during))
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


def _phase(
    server: Tryvoha, bare: BareSqlite, pairs: int, keys: str, auth: dict[str, str]
) -> list[float]:
    writes = Writes()
    declare_and_clear(server, _BODY, pairs, bare, writes, keys, auth, warm_up=WARM_UP_PAIRS)
    return writes.declare_samples


async def _warm(server: Tryvoha, auth: dict[str, str], ports: dict[str, list[int]], n: int) -> None:
    """One event on another region, until the answering endpoints have it: the
    delivering process has started and knows every endpoint."""
    seq = await head(server) + 1
    http = BlockingHttp(HOST, server.port)
    try:
        key = {**auth, "Idempotency-Key": f"warm-{n}"}
        body = orjson.dumps({"regions": [WARM_REGION], "threat": WARM_THREATS[n]})
        expect_status(http.request("POST", "/api/v1/alerts", key, body), 201, "declare")
    finally:
        http.close()
    await reach(ports["answering"][0], seq, START_SECONDS, "the first event")


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
