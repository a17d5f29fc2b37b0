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
PAUSE_SETTLE_SECONDS = 0.3  # after freezing the other server, before timing this one
SETTLE_SECONDS = 1.0
NATIONWIDE_EVENTS = 27
WS_HELLO = '{"after": null, "regions": []}'
THREATS = ["ballistic_missiles"]
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


@dataclass(eq=False)
class Side:
    """One server of a pair, its subscribers and what starts its rounds."""

    phase: Phase
    server: Tryvoha | Nginx
    http: Http
    target: Target
    fire: Trigger
    clear: Trigger | None = None
    swarm: Swarm | None = None
    pids: list[int] = field(default_factory=list)
    payload_size: int = 0  # nchan: bytes of the message it publishes


class Fanout:
    """For each N and transport, tryvoha and nginx+nchan side by side: both servers up,
    each with its own N subscribers, timed rounds alternating between them (ABBA), the
    server not being timed frozen meanwhile. Drift in other work on the machine then
    falls on both alike."""

    def __init__(self, options: Options, console: Console, progress: Progress) -> None:
        self.options = options
        self.console = console
        self.progress = progress
        self.publishes = 0
        self.timed = "fanout" in options.sections

    async def run(self) -> list[Phase]:
        phases: list[Phase] = []
        for n in self.options.sizes:
            for transport in self.options.transports:
                if transport == "ws" and not self.timed:
                    continue  # memory alone is measured with SSE subscribers
                pair = [Phase("tryvoha", transport, n), Phase("nginx+nchan", transport, n)]
                phases += pair
                try:
                    await self.run_pair(pair)
                except Exception as e:  # one failed pair must not end the bench
                    for phase in pair:
                        if phase.error is None:
                            self.fail(phase, e)
                for phase in pair:
                    self.console.print(describe(phase), highlight=False)
        return phases

    def fail(self, phase: Phase, e: BaseException) -> None:
        phase.error = f"{type(e).__name__}: {e}"
        if not isinstance(e, ServerError | SwarmError | OSError | TimeoutError):
            phase.error += "\n" + traceback.format_exc()
        self.console.print(
            f"[red]{phase.server} {phase.transport} N={phase.n:,}: {first_line(e)}",
            highlight=False,
        )

    async def run_pair(self, pair: list[Phase]) -> None:
        sides: list[Side] = []
        async with contextlib.AsyncExitStack() as stack:
            for phase in pair:
                try:
                    opener = self.open_tryvoha if phase.server == "tryvoha" else self.open_nchan
                    sides.append(await opener(phase, stack))
                except Exception as e:
                    self.fail(phase, e)
            for side in list(sides):
                try:
                    await self.subscribe(side, stack)
                except Exception as e:
                    self.fail(side.phase, e)
                    sides.remove(side)
            sides = [s for s in sides if s.phase.connect.get("connected")]
            if self.timed and sides:
                await self.time_rounds(sides)
            for side in sides:
                if side.swarm is not None:
                    side.phase.teardown_errors = await side.swarm.close()

    # -- the servers --------------------------------------------------------------

    async def open_tryvoha(self, phase: Phase, stack: contextlib.AsyncExitStack) -> Side:
        tmp = self.options.tmp / f"tryvoha-{phase.transport}-{phase.n}"
        workers = self.options.tryvoha_workers(phase.n)
        server = Tryvoha(tmp, workers)
        stack.push_async_callback(self.stop, phase, server)
        try:
            await server.start()
        except ServerError as e:
            if self.options.workers is not None or workers == 1:
                raise
            phase.notes.append(f"tryvoha serve --workers {workers} failed ({first_line(e)});")
            phase.notes.append("measured with --workers 1, which holds ~19,900 at most")
            await server.stop()
            server = Tryvoha(tmp.with_name(tmp.name + "-w1"), 1)
            stack.push_async_callback(self.stop, phase, server)
            await server.start()
        phase.server_processes = server.workers
        return await self.tryvoha_side(phase, server, stack)

    async def tryvoha_side(
        self, phase: Phase, server: Tryvoha, stack: contextlib.AsyncExitStack
    ) -> Side:
        """A started tryvoha (`server.port` takes the declares), warmed up, with its
        round triggers and where subscribers connect."""
        http = await stack.enter_async_context(Http(HOST, server.port))
        regions = await oblasts(http)
        details = {} if self.options.bare_declare else {"threats": THREATS, "message": MESSAGE}
        declare = orjson.dumps(
            {"regions": regions, "threat": "air_raid", "level": "red", **details}
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
        ws = phase.transport == "ws"
        target = Target(
            "tryvoha",
            phase.transport,
            HOST,
            server.port,
            "/api/v1/ws" if ws else "/api/v1/events",
            WS_HELLO if ws else None,
        )
        return Side(
            phase,
            server,
            http,
            target,
            Trigger(declare_all, next_events),
            Trigger(clear_all, next_events),
        )

    async def open_nchan(self, phase: Phase, stack: contextlib.AsyncExitStack) -> Side:
        tmp = self.options.tmp / f"nginx-{phase.transport}-{phase.n}"
        server = Nginx(tmp, self.options.nginx_workers or nginx_workers(phase.n))
        stack.push_async_callback(self.stop, phase, server)
        phase.server_processes = server.workers
        await server.start()
        http = await stack.enter_async_context(Http(HOST, server.port))
        channel = f"alerts-{phase.transport}-{phase.n}"
        target = Target("nchan", phase.transport, HOST, server.port, f"/sub?id={channel}")
        side = Side(phase, server, http, target, Trigger(self.no_reply, self.no_events))

        async def publish() -> Reply:
            body = nchan_payload(self.publishes, side.payload_size)
            reply = await http.request("POST", f"/pub?id={channel}", {}, body)
            expect_status(reply, (201, 202), "publish")
            return reply

        async def next_message() -> tuple[int, str]:
            self.publishes += 1
            return 1, f'{{"seq":{self.publishes},'

        side.fire = Trigger(publish, next_message)
        warm = await http.request("POST", "/pub?id=warm-up", {}, b"{}")
        expect_status(warm, (201, 202), "publish")
        return side

    @staticmethod
    async def no_reply() -> Reply:
        raise ServerError("no trigger")

    @staticmethod
    async def no_events() -> tuple[int, str]:
        raise ServerError("no trigger")

    @staticmethod
    async def stop(phase: Phase, server: Tryvoha | Nginx) -> None:
        await server.stop()
        phase.problems = (phase.problems + server.problems())[:50]

    # -- subscribers and rounds ---------------------------------------------------

    async def subscribe(self, side: Side, stack: contextlib.AsyncExitStack) -> None:
        """Connect N subscribers; RSS before and after (the memory section)."""
        phase, n = side.phase, side.phase.n
        await asyncio.sleep(SETTLE_SECONDS / 2)
        phase.rss_base_bytes = procs.rss_bytes(side.server.memory_pids())
        phase.client_processes = client_processes(n, self.options.client_processes)
        label = f"{phase.server} {phase.transport.upper()} N={n:,}"
        logs = self.options.tmp / "clients" / f"{phase.server.split('+')[0]}-{phase.transport}-{n}"
        side.swarm = await stack.enter_async_context(Swarm(phase.client_processes, logs))
        task = self.progress.add_task(f"{label}: connecting", total=n)
        try:
            result = await side.swarm.connect(
                side.target, n, lambda connected, _: self.progress.update(task, completed=connected)
            )
        finally:
            self.progress.remove_task(task)
        phase.connect = connect_json(result)
        if not result.complete:
            phase.notes.append(
                f"only {result.connected:,} of {n:,} subscribers confirmed: {result.errors}"
            )
        await asyncio.sleep(SETTLE_SECONDS)
        phase.rss_idle_bytes = procs.rss_bytes(side.server.memory_pids())
        side.pids = side.server.pids()

    async def time_rounds(self, sides: list[Side]) -> None:
        label = f"{sides[0].phase.transport.upper()} N={sides[0].phase.n:,}"
        task = self.progress.add_task(f"{label}: rounds", total=None)
        try:
            await self._time_rounds(sides)
        finally:
            self.progress.remove_task(task)

    async def _time_rounds(self, sides: list[Side]) -> None:
        # Warm-up, tryvoha first: what its 27 events took on the wire sizes nchan's message.
        round_bytes = float(ESTIMATED_ROUND_BYTES)
        for side in sides:
            assert side.swarm is not None
            if isinstance(side.server, Nginx):
                # Wire bytes per subscriber equal to tryvoha's: nchan's SSE frame adds
                # "id: <time>:<tag>\ndata: " and "\n\n"; its WebSocket frame 4 bytes.
                overhead = 25 if side.phase.transport == "sse" else 4
                side.payload_size = max(32, round(round_bytes) - overhead)
                if round_bytes == ESTIMATED_ROUND_BYTES:
                    side.phase.notes.append(
                        f"payload size estimated ({round_bytes:.0f} B): no tryvoha round to match"
                    )
            for _ in range(WARM_UP_ROUNDS):
                check = await untimed(side.phase, side.swarm, side.fire, "warm-up")
                if side.clear is not None:
                    await untimed(side.phase, side.swarm, side.clear, "warm-up clear")
                    if check.subscribers and not check.missing:
                        round_bytes = check.bytes / check.subscribers
        tryvoha = next((s for s in sides if isinstance(s.server, Tryvoha)), None)
        profiler = (
            Profiler(
                tryvoha.pids[0],
                self.options.results,
                f"{self.options.stamp}-{tryvoha.phase.transport}-{tryvoha.phase.n}"
                f"-w{tryvoha.phase.server_processes}",
            )
            if self.options.profile and tryvoha is not None and tryvoha.pids
            else None
        )
        with contextlib.ExitStack() as stack:
            if profiler is not None:
                stack.enter_context(profiler)
            for k in range(self.options.repeat):
                for side in sides if k % 2 == 0 else sides[::-1]:
                    await self.one_round(side, [s for s in sides if s is not side])
        if profiler is not None and tryvoha is not None:
            tryvoha.phase.profile = profiler.summary()

    async def one_round(self, side: Side, others: list[Side]) -> None:
        assert side.swarm is not None
        for other in others:
            other.server.pause()
        try:
            await asyncio.sleep(PAUSE_SETTLE_SECONDS)
            side.phase.rounds.append(await timed(side.swarm, side.pids, side.fire))
        finally:
            for other in others:
                other.server.resume()
        if side.clear is not None:
            await untimed(side.phase, side.swarm, side.clear, "clear the whole country")


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


async def untimed(phase: Phase, swarm: Swarm, trigger: Trigger, what: str) -> RoundResult:
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
    return check


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
