"""MQTT (issue 13): what publishing to a broker costs the server, against the same server
without it, and how fast the broker holds the truth.

Two `tryvoha serve` processes on stores of their own, one with `--mqtt` to a Mosquitto
started here (Debian's, as the tests start it), one without: the reference. Rounds
alternate between them:
- writes: a declare and a clear of one oblast, one request at a time (latency);
- a nationwide declare (the 27 oblast-level regions) and a nationwide clear: the time
  from the request to the 27th event on an SSE stream of the same server (MQTT must not
  slow the streams), the server's CPU time for it, and, on the MQTT server, the time until
  a subscriber has the last region state (each change is ~1,900 retained messages).
Then the broker is killed: the writes again (the broker down must cost them nothing), and
a fresh broker with no persistence: the time until it holds every retained topic again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiomqtt
import orjson
from rich.console import Console
from rich.table import Table
from tests.support.mosquitto import Mosquitto, client, until_right

from bench import procs
from bench.http import Http
from bench.options import Options
from bench.servers import HOST, Tryvoha
from bench.stats import median, percentile
from tryvoha.data import region_tree
from tryvoha.domain.regions import Level

REGION = "UA46000000000026241"  # Lviv oblast
OBLASTS = [r.id for r in region_tree().at_level(Level.OBLAST)]
ROUNDS = 5
WRITES = 60  # declare + clear pairs per server and broker state


@dataclass(slots=True)
class Mqtt:
    write_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # off / on / down
    sse_ms: dict[str, float] = field(default_factory=dict)  # nationwide, to the 27th event
    cpu_ms: dict[str, float] = field(default_factory=dict)  # server CPU per nationwide change
    mqtt_ms: float = 0.0  # nationwide, to the last region state on the broker
    messages: int = 0  # retained messages per nationwide change
    recovery_s: float = 0.0  # a fresh broker holds the truth again after this
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def writes(http: Http, auth: dict[str, str], n: int) -> list[float]:
    took = []
    for _ in range(n):
        for method, path, body in (
            ("POST", "/api/v1/alerts", orjson.dumps({"regions": [REGION]})),
            ("POST", f"/api/v1/regions/{REGION}/clear", b""),
        ):
            reply = await http.request(method, path, auth, body)
            took.append(reply.ms)
            if reply.status not in (200, 201):
                raise RuntimeError(f"{path}: {reply.status}")
    return took


async def sse_until(port: int, count: int, ready: asyncio.Event) -> float:
    """Open the stream, then the time of the `count`-th event after `ready` is cleared."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"GET /api/v1/events HTTP/1.1\r\nHost: bench\r\n\r\n")
    await writer.drain()
    seen = 0
    ready.set()
    try:
        while seen < count:
            line = await reader.readline()
            if not line:
                raise RuntimeError("the stream ended")
            seen += line.startswith(b"event: alert.")
        return time.perf_counter()
    finally:
        writer.close()


async def nationwide(
    server: Tryvoha, http: Http, broker: Mosquitto | None
) -> tuple[float, float, float | None, int]:
    """Declare then clear the whole country: ms to the 27th SSE event (median of both),
    server CPU ms per change, ms to the last region state on the broker, messages."""
    sse: list[float] = []
    mqtt: list[float] = []
    cpu: list[float] = []
    messages = 0
    for body, path in (
        (orjson.dumps({"regions": OBLASTS}), "/api/v1/alerts"),
        (b"", "/api/v1/regions/UA/clear"),
    ):
        ready = asyncio.Event()
        stream = asyncio.create_task(sse_until(server.port, len(OBLASTS), ready))
        await ready.wait()
        await asyncio.sleep(0.2)
        async with contextlib.AsyncExitStack() as stack:
            if broker is not None:
                sub = await stack.enter_async_context(client(broker))
                await sub.subscribe(
                    "tryvoha/v1/regions/+/state", qos=0
                )  # a broker queues ~1,000 QoS 1
            cpu_before = procs.cpu_ns(server.pids())
            started = time.perf_counter()
            reply = await http.request("POST", path, server.auth, body)
            if reply.status not in (200, 201):
                raise RuntimeError(f"{path}: {reply.status}")
            seq = int(reply.json()["seq"])
            sse.append((await stream - started) * 1e3)
            if broker is not None:
                watcher, count = await last_state(sub, seq)
                mqtt.append((watcher - started) * 1e3)
                messages = count
            await asyncio.sleep(1.0)  # publishing done: its CPU is counted
            cpu.append((procs.cpu_ns(server.pids()) - cpu_before) / 1e6)
    return median(sse), median(cpu), median(mqtt) if mqtt else None, messages


async def last_state(sub: aiomqtt.Client, seq: int) -> tuple[float, int]:
    """When the last region state of the 27 events up to `seq` arrived, and how many
    there were (quiet for 1 s after)."""
    last, count = 0.0, 0
    with contextlib.suppress(TimeoutError):
        while True:
            async with asyncio.timeout(1.0):
                message = await anext(aiter(sub.messages))
            payload = message.payload
            if isinstance(payload, bytes) and orjson.loads(payload)["seq"] > seq - len(OBLASTS):
                last, count = time.perf_counter(), count + 1
    return last, count


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": percentile(ordered, 50), "p99": percentile(ordered, 99)}


async def run_mqtt(options: Options, console: Console) -> Mqtt:
    result = Mqtt()
    broker = Mosquitto(options.tmp / "mqtt-broker").start()
    unlimited = ["--token-write-rate-limit", "off"]
    off = Tryvoha(options.tmp / "mqtt-off", args=unlimited)
    on = Tryvoha(options.tmp / "mqtt-on", args=[*unlimited, "--mqtt", broker.url])
    fresh: Mosquitto | None = None
    try:
        await off.start()
        await on.start()
        http_off, http_on = Http(HOST, off.port), Http(HOST, on.port)
        await until_right(broker, lambda: {"seq": 0, "regions": {}})
        took: dict[str, list[float]] = {"off": [], "on": [], "down": []}
        sse: dict[str, list[float]] = {"off": [], "on": []}
        cpu: dict[str, list[float]] = {"off": [], "on": []}
        mqtt: list[float] = []
        for i in range(ROUNDS):
            console.print(f"[dim]round {i + 1}/{ROUNDS}", highlight=False)
            for name, server, http in (("off", off, http_off), ("on", on, http_on)):
                took[name] += await writes(http, server.auth, WRITES)
                s, c, m, n = await nationwide(server, http, broker if name == "on" else None)
                sse[name].append(s)
                cpu[name].append(c)
                if m is not None:
                    mqtt.append(m)
                    result.messages = n
        broker.kill()
        for _ in range(ROUNDS):
            took["off"] += await writes(http_off, off.auth, WRITES)
            took["down"] += await writes(http_on, on.auth, WRITES)
        result.write_ms = {k: summary(v) for k, v in took.items()}
        result.sse_ms = {k: median(v) for k, v in sse.items()}
        result.cpu_ms = {k: median(v) for k, v in cpu.items()}
        result.mqtt_ms = median(mqtt)
        state = (await http_on.request("GET", "/api/v1/state")).json()
        fresh = Mosquitto(options.tmp / "mqtt-fresh", port=broker.port).start()
        started = time.perf_counter()
        await until_right(fresh, lambda: state, seconds=30)
        result.recovery_s = time.perf_counter() - started
        result.problems = off.problems() + on.problems()
    except Exception as e:  # the section reports, the others still run
        result.error = f"{type(e).__name__}: {e}"
    finally:
        for server in (on, off):
            await server.stop()
        for b in (broker, fresh):
            if b is not None:
                b.stop()
    return result


def mqtt_table(result: Mqtt) -> Table:
    table = Table(
        title=f"MQTT: a server publishing to Mosquitto vs the same server without MQTT "
        f"({result.messages:,} retained messages per nationwide change)",
        title_justify="left",
    )
    for col in ("", "without MQTT", "with MQTT", "ratio"):
        table.add_column(col, justify="left" if not col else "right")

    def row(what: str, ref: float | None, ours: float | None, unit: str = "ms") -> None:
        shown = [f"{v:,.1f} {unit}" if v is not None else "—" for v in (ref, ours)]
        ratio = f"{ours / ref:.2f}×" if ref and ours is not None else "—"
        table.add_row(what, *shown, ratio)

    w = result.write_ms
    if w:
        row("declare/clear p50", w["off"]["p50"], w["on"]["p50"])
        row("declare/clear p99", w["off"]["p99"], w["on"]["p99"])
        row("… broker down, p50", w["off"]["p50"], w["down"]["p50"])
        row("… broker down, p99", w["off"]["p99"], w["down"]["p99"])
    if result.sse_ms:
        row("nationwide: 27th SSE event", result.sse_ms["off"], result.sse_ms["on"])
        row("nationwide: server CPU", result.cpu_ms["off"], result.cpu_ms["on"])
        row("nationwide: last region state on the broker", result.sse_ms["on"], result.mqtt_ms)
    table.add_row("fresh broker: every retained topic right", "", f"{result.recovery_s:.1f} s", "")
    if result.error:
        table.add_row("[red]error", result.error, "", "")
    return table
