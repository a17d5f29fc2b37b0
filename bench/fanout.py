"""Fan-out and idle memory: N subscribers, one nationwide declare, the time until each
(and all) of them has its last event; then the same N on nginx+nchan with one publish
of the same size. One phase = one server, one transport, one N, fresh processes.

Within a phase: start the server, warm it up with one declare and clear (no
subscribers), read its RSS, connect N subscribers (untimed) and wait until each is
confirmed, read the RSS again, then time `repeat` rounds. A tryvoha round is one
`POST /api/v1/alerts` naming the 27 oblast-level regions (27 `alert.declared` events),
followed by an untimed clear of the whole country whose 27 `alert.cleared` events each
subscriber must also get. An nchan round is one publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import Progress

from bench import procs
from bench.client import Target
from bench.http import Http, Reply
from bench.options import Options
from bench.profile import Profiler
from bench.servers import HOST, Nginx, ServerError, Tryvoha, nginx_workers
from bench.stats import finite_or_none, latency_summary, median
from bench.swarm import ConnectResult, RoundResult, Swarm, SwarmError, client_processes

ROUND_SECONDS = 60.0
WARM_UP_ROUNDS = 1  # with every subscriber connected: the kernel grows socket buffers
SETTLE_SECONDS = 1.0
NATIONWIDE_EVENTS = 27
WS_HELLO = '{"after": null, "regions": []}'
MESSAGE = {
    "uk": "Повітряна тривога по всій території України. Загроза застосування балістичних ракет. Негайно прямуйте до укриття!",
    "en": "Air raid alert across Ukraine. Threat of ballistic missiles. Go to the nearest shelter now!",
}
# Wire bytes per subscriber of the 27 declared events, used for nchan's payload only
# when no tryvoha round of the same transport was measured first.
ESTIMATED_ROUND_BYTES = 27 * 760


@dataclass(slots=True)
class RoundStats:
    latency_ms: dict[str, float | None]
    time_to_all_ms: float | None  # None when some subscriber did not get every event
    subscribers: int
    received_all: int
    missing: int
    lost: int
    bytes_per_subscriber: float
    reads_per_subscriber: float  # how many reads the client needed per subscriber
    client_user_ms: float
    client_system_ms: float
    client_busy_pct: list[float]  # each client process: CPU / (its last receipt - send)
    server_cpu_ms: float
    server_busy_pct: float | None  # server CPU / time to all (per core: 100 = one core)
    reply_ms: float
    reply_status: int
    errors: dict[str, int]
    quiet: bool = False  # the round ended because bytes stopped, not because all were in
    machine_busy_pct: float | None = None  # all cores, from send to the last receipt seen
    other_busy_pct: float | None = None  # of that, what processes not in the bench used


@dataclass(slots=True)
class Phase:
    server: str
    transport: str
    n: int
    server_processes: int = 0
    client_processes: int = 0
    connect: dict[str, Any] = field(default_factory=dict)
    rss_base_bytes: int = 0
    rss_idle_bytes: int = 0
    rounds: list[RoundStats] = field(default_factory=list)
    verification_rounds: list[dict[str, Any]] = field(default_factory=list)
    teardown_errors: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    profile: str | None = None

    @property
    def rss_per_subscriber(self) -> float | None:
        connected = int(self.connect.get("connected", 0))
        if not connected or not self.rss_idle_bytes:
            return None
        return (self.rss_idle_bytes - self.rss_base_bytes) / connected

    def summary(self) -> dict[str, float | None]:
        """The median over rounds of each number."""

        def med(get: Callable[[RoundStats], float | None]) -> float | None:
            values = [get(r) for r in self.rounds]
            if not values or any(v is None for v in values):
                return None
            return finite_or_none(median([v for v in values if v is not None]))

        return {
            "p50_ms": med(lambda r: r.latency_ms["p50"]),
            "p99_ms": med(lambda r: r.latency_ms["p99"]),
            "max_ms": med(lambda r: r.latency_ms["max"]),
            "time_to_all_ms": med(lambda r: r.time_to_all_ms),
            "first_ms": med(lambda r: r.latency_ms["min"]),
            "client_busy_max_pct": med(lambda r: max(r.client_busy_pct, default=0.0)),
            "server_busy_pct": med(lambda r: r.server_busy_pct),
            "machine_busy_pct": med(lambda r: r.machine_busy_pct),
            "other_busy_pct": med(lambda r: r.other_busy_pct),
            "reads_per_subscriber": med(lambda r: r.reads_per_subscriber),
            "bytes_per_subscriber": med(lambda r: r.bytes_per_subscriber),
            "reply_ms": med(lambda r: r.reply_ms),
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rss_per_subscriber_bytes"] = self.rss_per_subscriber
        data["summary"] = self.summary()
        return data


class Fanout:
    def __init__(self, options: Options, console: Console, progress: Progress) -> None:
        self.options = options
        self.console = console
        self.progress = progress
        self.round_bytes: dict[tuple[str, int], float] = {}  # (transport, n) -> tryvoha's
        self.publishes = 0
        self.timed = "fanout" in options.sections

    async def run(self) -> list[Phase]:
        phases: list[Phase] = []
        for n in self.options.sizes:
            for transport in self.options.transports:
                if transport == "ws" and not self.timed:
                    continue  # memory alone is measured with SSE subscribers
                for server in ("tryvoha", "nginx+nchan"):
                    phase = Phase(server, transport, n)
                    phases.append(phase)
                    try:
                        await self.run_phase(phase)
                    except Exception as e:  # one failed phase must not end the bench
                        phase.error = f"{type(e).__name__}: {e}"
                        if not isinstance(e, ServerError | SwarmError | OSError | TimeoutError):
                            phase.error += "\n" + traceback.format_exc()
                        self.console.print(
                            f"[red]{server} {transport} N={n:,}: {first_line(e)}", highlight=False
                        )
                    self.console.print(describe(phase), highlight=False)
        return phases

    async def run_phase(self, phase: Phase) -> None:
        tmp = self.options.tmp / f"{phase.server.split('+')[0]}-{phase.transport}-{phase.n}"
        if phase.server == "tryvoha":
            await self.run_tryvoha(phase, tmp)
        else:
            await self.run_nchan(phase, tmp)

    # -- tryvoha ----------------------------------------------------------------

    async def run_tryvoha(self, phase: Phase, tmp: Path) -> None:
        workers = self.options.tryvoha_workers(phase.n)
        server = Tryvoha(tmp, workers)
        phase.server_processes = workers
        try:
            await server.start()
        except ServerError as e:
            if self.options.workers is not None or workers == 1:
                raise
            phase.notes.append(f"tryvoha serve --workers {workers} failed ({first_line(e)});")
            phase.notes.append("measured with --workers 1, which holds ~19,900 at most")
            await server.stop()
            server = Tryvoha(tmp.with_name(tmp.name + "-w1"), 1)
            phase.server_processes = 1
            await server.start()
        try:
            async with Http(HOST, server.port) as http:
                regions = await oblasts(http)
                declare = orjson.dumps(
                    {
                        "regions": regions,
                        "threat": "air_raid",
                        "level": "red",
                        "threats": ["ballistic_missiles"],
                        "message": MESSAGE,
                    }
                )

                async def declare_all() -> Reply:
                    reply = await http.request("POST", "/api/v1/alerts", server.auth, declare)
                    expect_status(reply, 201, "declare")
                    return reply

                async def clear_all() -> Reply:
                    reply = await http.request("POST", "/api/v1/regions/UA/clear", server.auth)
                    expect_status(reply, 200, "clear")
                    return reply

                async def next_events() -> tuple[int, str]:
                    """27 events follow; the last has seq = the server's seq now + 27."""
                    reply = await http.request("GET", "/api/v1/alerts/active")
                    expect_status(reply, 200, "GET /api/v1/alerts/active")
                    seq = int(reply.json()["seq"]) + NATIONWIDE_EVENTS
                    return NATIONWIDE_EVENTS, f'{{"seq":{seq},'

                await declare_all()  # warm-up, before any subscriber
                await clear_all()
                target = Target(
                    "tryvoha",
                    phase.transport,
                    HOST,
                    server.port,
                    "/api/v1/events" if phase.transport == "sse" else "/api/v1/ws",
                    WS_HELLO if phase.transport == "ws" else None,
                )
                await self.subscribe_and_time(
                    phase,
                    server,
                    target,
                    Trigger(declare_all, next_events),
                    Trigger(clear_all, next_events),
                )
        finally:
            phase.problems = server.problems()[:50]
            await server.stop()

    # -- nginx + nchan ----------------------------------------------------------

    async def run_nchan(self, phase: Phase, tmp: Path) -> None:
        workers = self.options.nginx_workers or nginx_workers(phase.n)
        server = Nginx(tmp, workers)
        phase.server_processes = workers
        await server.start()
        size = self.round_bytes.get((phase.transport, phase.n))
        if size is None:
            size = ESTIMATED_ROUND_BYTES
            phase.notes.append(f"payload size estimated ({size} B): no tryvoha round to match")
        # Wire bytes per subscriber equal to tryvoha's: nchan's SSE frame adds
        # "id: <time>:<tag>\ndata: " and "\n\n"; its WebSocket frame a 4-byte header.
        overhead = 25 if phase.transport == "sse" else 4
        payload_size = max(32, round(size) - overhead)
        channel = f"alerts-{phase.transport}-{phase.n}"
        try:
            async with Http(HOST, server.port) as http:

                async def publish() -> Reply:
                    body = nchan_payload(self.publishes, payload_size)
                    reply = await http.request("POST", f"/pub?id={channel}", {}, body)
                    expect_status(reply, (201, 202), "publish")
                    return reply

                async def next_message() -> tuple[int, str]:
                    self.publishes += 1
                    return 1, f'{{"seq":{self.publishes},'

                warm = await http.request("POST", "/pub?id=warm-up", {}, b"{}")
                expect_status(warm, (201, 202), "publish")
                target = Target("nchan", phase.transport, HOST, server.port, f"/sub?id={channel}")
                await self.subscribe_and_time(
                    phase, server, target, Trigger(publish, next_message), None
                )
        finally:
            phase.problems = server.problems()[:50]
            await server.stop()

    # -- both -------------------------------------------------------------------

    async def subscribe_and_time(
        self,
        phase: Phase,
        server: Tryvoha | Nginx,
        target: Target,
        fire: Trigger,
        clear: Trigger | None,
    ) -> None:
        n = phase.n
        await asyncio.sleep(SETTLE_SECONDS / 2)
        phase.rss_base_bytes = procs.rss_bytes(server.memory_pids())
        phase.client_processes = client_processes(n, self.options.client_processes)
        label = f"{phase.server} {phase.transport.upper()} N={n:,}"
        task = self.progress.add_task(f"{label}: connecting", total=n)

        def on_progress(connected: int, done: int) -> None:
            self.progress.update(task, completed=connected)

        logs = self.options.tmp / "clients" / f"{phase.server.split('+')[0]}-{phase.transport}-{n}"
        try:
            async with Swarm(phase.client_processes, logs) as swarm:
                result = await swarm.connect(target, n, on_progress)
                phase.connect = connect_json(result)
                if not result.complete:
                    phase.notes.append(
                        f"only {result.connected:,} of {n:,} subscribers confirmed: {result.errors}"
                    )
                await asyncio.sleep(SETTLE_SECONDS)
                phase.rss_idle_bytes = procs.rss_bytes(server.memory_pids())
                if self.timed and result.connected:
                    self.progress.update(task, description=f"{label}: timing rounds")
                    await self.time_rounds(phase, server, swarm, fire, clear)
                self.progress.update(task, description=f"{label}: closing")
                phase.teardown_errors = await swarm.close()
        finally:
            self.progress.remove_task(task)

    async def time_rounds(
        self,
        phase: Phase,
        server: Tryvoha | Nginx,
        swarm: Swarm,
        fire: Trigger,
        clear: Trigger | None,
    ) -> None:
        pids = server.pids()
        for _ in range(WARM_UP_ROUNDS):
            await untimed(phase, swarm, fire, "warm-up")
            if clear is not None:
                await untimed(phase, swarm, clear, "warm-up clear")
        profiler = (
            Profiler(
                pids[0],
                self.options.results,
                f"{self.options.stamp}-{phase.transport}-{phase.n}-w{phase.server_processes}",
            )
            if self.options.profile and isinstance(server, Tryvoha)
            else None
        )
        with contextlib.ExitStack() as stack:
            if profiler is not None:
                stack.enter_context(profiler)
            for _ in range(self.options.repeat):
                phase.rounds.append(await timed(swarm, pids, fire))
                if clear is not None:
                    await untimed(phase, swarm, clear, "clear the whole country")
        if profiler is not None:
            phase.profile = profiler.summary()
        if phase.server == "tryvoha" and phase.rounds:
            self.round_bytes[(phase.transport, phase.n)] = median(
                [r.bytes_per_subscriber for r in phase.rounds]
            )


async def timed(swarm: Swarm, pids: list[int], fire: Trigger) -> RoundStats:
    """One round, with the CPU the server, the client and everything else used in it."""
    expect, marker = await fire.prepare()
    subscribers = await swarm.arm(expect, marker)
    cpu0, own0, machine0 = procs.cpu_ns(pids), procs.self_cpu_ns(), procs.machine_ms()
    reply = await fire.send()
    await swarm.wait_complete(ROUND_SECONDS)
    cpu1, own1, machine1 = procs.cpu_ns(pids), procs.self_cpu_ns(), procs.machine_ms()
    raw = await swarm.collect(reply.sent_ns, subscribers)
    raw.reply_ns, raw.status = reply.done_ns, reply.status
    stats = round_stats(raw, cpu1 - cpu0)
    busy, total = machine1[0] - machine0[0], machine1[1] - machine0[1]
    if total > 0:
        ours = stats.server_cpu_ms + stats.client_user_ms + stats.client_system_ms
        ours += (own1 - own0) / 1e6
        stats.machine_busy_pct = 100 * busy / total
        stats.other_busy_pct = max(0.0, 100 * (busy - ours) / total)
    return stats


async def untimed(phase: Phase, swarm: Swarm, trigger: Trigger, what: str) -> None:
    """A round that is not timed but checked all the same: every subscriber, every event."""
    expect, marker = await trigger.prepare()
    subscribers = await swarm.arm(expect, marker)
    reply = await trigger.send()
    await swarm.wait_complete(ROUND_SECONDS)
    check = await swarm.collect(reply.sent_ns, subscribers)
    phase.verification_rounds.append(
        {
            "what": what,
            "events": expect,
            "subscribers": subscribers,
            "received_all": len(check.times_ns),
            "missing": check.missing,
            "lost": check.lost,
            "errors": check.errors,
        }
    )


class Trigger:
    """What starts a round: `prepare` says how many events each subscriber will get and
    how the last one begins; `send` sends the request and returns its reply."""

    def __init__(
        self,
        send: Callable[[], Awaitable[Reply]],
        prepare: Callable[[], Awaitable[tuple[int, str]]],
    ) -> None:
        self.send = send
        self.prepare = prepare


def round_stats(raw: RoundResult, server_cpu_ns: int) -> RoundStats:
    latencies = raw.latencies_ms()
    summary = latency_summary(latencies, raw.subscribers)
    complete = len(latencies) == raw.subscribers and raw.subscribers > 0
    time_to_all = latencies[-1] if complete else None
    busy = [
        100 * cpu / (last - raw.t0_ns)
        for cpu, last in zip(raw.cpu_ns, raw.last_ns, strict=True)
        if last > raw.t0_ns
    ]
    return RoundStats(
        latency_ms={k: finite_or_none(v) for k, v in summary.items()},
        time_to_all_ms=time_to_all,
        subscribers=raw.subscribers,
        received_all=len(latencies),
        missing=raw.missing,
        lost=raw.lost,
        bytes_per_subscriber=raw.bytes / raw.subscribers if raw.subscribers else 0.0,
        reads_per_subscriber=raw.reads / raw.subscribers if raw.subscribers else 0.0,
        client_user_ms=sum(raw.user_ns) / 1e6,
        client_system_ms=sum(raw.system_ns) / 1e6,
        client_busy_pct=[round(b, 1) for b in busy],
        server_cpu_ms=server_cpu_ns / 1e6,
        server_busy_pct=100 * server_cpu_ns / 1e6 / time_to_all if time_to_all else None,
        reply_ms=(raw.reply_ns - raw.t0_ns) / 1e6,
        reply_status=raw.status,
        errors=raw.errors,
        quiet=raw.quiet,
    )


async def oblasts(http: Http) -> list[str]:
    """The oblast-level regions, from the server's own list (27 for Ukraine)."""
    reply = await http.request("GET", "/api/v1/regions")
    expect_status(reply, 200, "GET /api/v1/regions")
    regions = [r["id"] for r in reply.json()["regions"] if r["level"] == "oblast"]
    if len(regions) != NATIONWIDE_EVENTS:
        raise ServerError(f"expected {NATIONWIDE_EVENTS} oblast-level regions, got {len(regions)}")
    return regions


def nchan_payload(seq: int, size: int) -> bytes:
    """A message of exactly `size` bytes that starts with its own seq, as tryvoha's
    events do, so each subscriber can tell messages apart and check their order."""
    head = b'{"seq":%d,"pad":"' % seq
    return head + b"x" * max(0, size - len(head) - 2) + b'"}'


def expect_status(reply: Reply, wanted: int | tuple[int, ...], what: str) -> None:
    ok = (wanted,) if isinstance(wanted, int) else wanted
    if reply.status not in ok:
        raise ServerError(f"{what}: HTTP {reply.status}: {reply.body[:300]!r}")


def connect_json(result: ConnectResult) -> dict[str, Any]:
    return {
        "wanted": result.wanted,
        "connected": result.connected,
        "failed": result.failed,
        "errors": result.errors,
        "seconds": round(result.seconds, 2),
        "stalled": result.stalled,
    }


def first_line(e: BaseException) -> str:
    lines = [line for line in str(e).splitlines() if line.strip()]
    return lines[-1][:200] if lines else type(e).__name__


def describe(phase: Phase) -> str:
    s = phase.summary()

    def ms(v: float | None) -> str:
        return "—" if v is None else f"{v:,.1f} ms"

    per_sub = phase.rss_per_subscriber
    mem = "" if per_sub is None else f", {per_sub / 1024:,.1f} KiB/subscriber"
    connected = phase.connect.get("connected", 0)
    return (
        f"  {phase.server:<12} {phase.transport.upper():<3} N={phase.n:>6,}: "
        f"{connected:,} connected in {phase.connect.get('seconds', math.nan):.1f} s{mem}; "
        f"p50 {ms(s['p50_ms'])}, p99 {ms(s['p99_ms'])}, all {ms(s['time_to_all_ms'])}"
    )
