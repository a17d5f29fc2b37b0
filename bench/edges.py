"""Edge fan-out (`--only edges`): the same N subscribers on one box, and on two edges
behind one writer (docs/deploy.md), as a ratio.

For each N and transport, two sides, started fresh and timed in alternating rounds (the
side not timed frozen meanwhile), as in the fan-out section:

- **one box**: `tryvoha serve` on SQLite, `--workers` as the fan-out section picks for N;
- **edges**: PostgreSQL (a throwaway cluster), nats-server with JetStream, one
  `--role writer` and two `--role edge` processes; N/2 subscribers on each edge.

A round is the fan-out section's: one nationwide declare (27 events) sent to the box, or
to the writer, then an untimed clear that every subscriber must also get. The time is
from the declare's send to each subscriber's last event: for the edges it includes the
commit in PostgreSQL, the publish to NATS and the delivery to both edges. The ratio is
edges / one box: below 1, the two edges fan out faster than one box.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from tests.support.nats import NatsServer
from tests.support.postgres import Cluster

from bench import procs
from bench.client import Target
from bench.fanout import Fanout, Phase, Side, describe
from bench.options import Options
from bench.servers import HOST, Tryvoha
from bench.swarm import RoundResult, Swarm, client_processes

ONE_BOX = "one box"
EDGES = "2 edges"


class Swarms:
    """Several swarms (one per edge) as one: armed, awaited and collected together."""

    def __init__(self, swarms: list[Swarm]) -> None:
        self.swarms = swarms

    async def arm(self, expect: int, marker: str | None = None) -> int:
        return sum(await asyncio.gather(*(s.arm(expect, marker) for s in self.swarms)))

    async def wait_complete(self, timeout_s: float) -> bool:
        done = await asyncio.gather(*(s.wait_complete(timeout_s) for s in self.swarms))
        return all(done)

    async def collect(self, t0_ns: int, subscribers: int) -> RoundResult:
        parts = [await s.collect(t0_ns, 0) for s in self.swarms]
        errors: Counter[str] = Counter()
        for part in parts:
            errors.update(part.errors)
        return RoundResult(
            t0_ns=t0_ns,
            subscribers=subscribers,
            times_ns=sorted(t for p in parts for t in p.times_ns),
            missing=sum(p.missing for p in parts),
            lost=sum(p.lost for p in parts),
            bytes=sum(p.bytes for p in parts),
            reads=sum(p.reads for p in parts),
            user_ns=[u for p in parts for u in p.user_ns],
            system_ns=[s for p in parts for s in p.system_ns],
            last_ns=[t for p in parts for t in p.last_ns],
            quiet=any(p.quiet for p in parts),
            errors=dict(errors),
        )

    async def close(self) -> dict[str, int]:
        errors: Counter[str] = Counter()
        for swarm in self.swarms:
            errors.update(await swarm.close())
        return dict(errors)


@dataclass(eq=False)
class Fleet:
    """PostgreSQL, nats-server, a writer and two edges, handled as one server: its port is
    the writer's (where the declare goes); its CPU is every tryvoha process's and NATS's."""

    dir: Path
    name: str = EDGES
    port: int = 0
    workers: int = 3
    cluster: Cluster | None = None
    nats: NatsServer | None = None
    writer: Tryvoha | None = None
    edges: list[Tryvoha] = field(default_factory=list)

    async def start(self, edge_workers: int = 1) -> None:
        self.cluster = await asyncio.to_thread(lambda: Cluster().start())
        store = await asyncio.to_thread(self.cluster.create_database)
        self.nats = await asyncio.to_thread(lambda: NatsServer().start())
        bus = ["--bus", self.nats.url]
        self.writer = Tryvoha(self.dir / "writer", 1, ["--role", "writer", *bus])
        self.writer.store = store
        await self.writer.start()
        self.port = self.writer.port
        writer_url = f"http://{HOST}:{self.writer.port}"
        for i in range(2):
            edge = Tryvoha(
                self.dir / f"edge{i}",
                edge_workers,
                ["--role", "edge", *bus, "--writer-url", writer_url],
            )
            edge.store, edge.token = store, self.writer.token
            await edge.start()
            self.edges.append(edge)

    @property
    def auth(self) -> dict[str, str]:
        assert self.writer is not None
        return self.writer.auth

    def _tryvohas(self) -> list[Tryvoha]:
        return [s for s in (self.writer, *self.edges) if s is not None]

    def pids(self) -> list[int]:
        nats = [self.nats.proc.pid] if self.nats and self.nats.proc else []
        return [pid for s in self._tryvohas() for pid in s.pids()] + nats

    def memory_pids(self) -> list[int]:
        return [pid for s in self.edges for pid in s.pids()]

    def problems(self) -> list[str]:
        return [line for s in self._tryvohas() for line in s.problems()]

    def pause(self) -> None:
        for server in self._tryvohas():
            server.pause()

    def resume(self) -> None:
        for server in self._tryvohas():
            server.resume()

    async def stop(self) -> None:
        for server in reversed(self._tryvohas()):
            await server.stop()
        if self.nats is not None:
            await asyncio.to_thread(self.nats.remove)
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.remove)


class EdgeFanout(Fanout):
    def __init__(self, options: Options, console: Console, progress: Progress) -> None:
        super().__init__(options, console, progress)
        self.timed = True

    async def run(self) -> list[Phase]:
        phases: list[Phase] = []
        for n in self.options.sizes:
            for transport in self.options.transports:
                pair = [Phase(ONE_BOX, transport, n), Phase(EDGES, transport, n)]
                phases += pair
                try:
                    await self.run_pair(pair)
                except Exception as e:
                    for phase in pair:
                        if phase.error is None:
                            self.fail(phase, e)
                for phase in pair:
                    self.console.print(describe(phase), highlight=False)
        return phases

    async def run_pair(self, pair: list[Phase]) -> None:
        sides: list[Side] = []
        async with contextlib.AsyncExitStack() as stack:
            for phase in pair:
                try:
                    opener = self.open_box if phase.server == ONE_BOX else self.open_fleet
                    side = await opener(phase, stack)
                    await self.subscribe_all(side, stack)
                    sides.append(side)
                except Exception as e:
                    self.fail(phase, e)
            sides = [s for s in sides if s.phase.connect.get("connected")]
            if sides:
                await self.time_rounds(sides)
            for side in sides:
                if side.swarm is not None:
                    side.phase.teardown_errors = await side.swarm.close()

    async def open_box(self, phase: Phase, stack: contextlib.AsyncExitStack) -> Side:
        tmp = self.options.tmp / f"box-{phase.transport}-{phase.n}"
        server = Tryvoha(tmp, self.options.tryvoha_workers(phase.n))
        stack.push_async_callback(self.stop, phase, server)
        await server.start()
        phase.server_processes = server.workers
        return await self.tryvoha_side(phase, server, stack)

    async def open_fleet(self, phase: Phase, stack: contextlib.AsyncExitStack) -> Side:
        fleet = Fleet(self.options.tmp / f"edges-{phase.transport}-{phase.n}")
        stack.push_async_callback(self.stop, phase, fleet)  # type: ignore[arg-type]
        edge_workers = self.options.tryvoha_workers(phase.n // 2)
        await fleet.start(edge_workers)
        phase.server_processes = 1 + 2 * edge_workers
        phase.notes.append("PostgreSQL and nats-server beside them; declares go to the writer")
        return await self.tryvoha_side(phase, fleet, stack)  # type: ignore[arg-type]

    async def subscribe_all(self, side: Side, stack: contextlib.AsyncExitStack) -> None:
        """N subscribers: all on the box, or half on each edge (a swarm each)."""
        if not isinstance(side.server, Fleet):
            await self.subscribe(side, stack)
            return
        phase, fleet = side.phase, side.server
        halves = [phase.n // 2, phase.n - phase.n // 2]
        swarms, connected, errors, began = [], 0, Counter[str](), time.monotonic()
        phase.rss_base_bytes = procs.rss_bytes(fleet.memory_pids())
        for i, (edge, share) in enumerate(zip(fleet.edges, halves, strict=True)):
            swarm = await stack.enter_async_context(
                Swarm(
                    client_processes(share, self.options.client_processes),
                    self.options.tmp / "clients" / f"edge{i}-{phase.transport}-{phase.n}",
                )
            )
            target = Target(
                "tryvoha",
                phase.transport,
                HOST,
                edge.port,
                side.target.path,
                side.target.ws_hello,
            )
            result = await swarm.connect(target, share)
            connected += result.connected
            errors.update(result.errors)
            swarms.append(swarm)
        phase.client_processes = sum(len(s.workers) for s in swarms)
        phase.connect = {
            "wanted": phase.n,
            "connected": connected,
            "errors": dict(errors),
            "seconds": round(time.monotonic() - began, 2),
        }
        if connected < phase.n:
            phase.notes.append(f"only {connected:,} of {phase.n:,} subscribers confirmed")
        await asyncio.sleep(1.0)
        phase.rss_idle_bytes = procs.rss_bytes(fleet.memory_pids())
        side.swarm = Swarms(swarms)  # type: ignore[assignment]
        side.pids = fleet.pids()


def edges_table(phases: list[Phase]) -> Table:
    table = Table(
        title="Edge fan-out: N subscribers on one box vs on two edges behind one writer "
        "(PostgreSQL + NATS); latency from the declare's send to each subscriber's last event",
        title_justify="left",
    )
    for col in ("transport", "N", "", ONE_BOX, EDGES, "ratio"):
        table.add_column(col, justify="left" if col in ("transport", "") else "right")
    keys = sorted({(p.transport, p.n) for p in phases})
    for transport, n in keys:
        box = next(
            (p for p in phases if (p.server, p.transport, p.n) == (ONE_BOX, transport, n)), None
        )
        edge = next(
            (p for p in phases if (p.server, p.transport, p.n) == (EDGES, transport, n)), None
        )
        sb = box.summary() if box else {}
        se = edge.summary() if edge else {}
        table.add_section()
        for label, key in (
            ("p50", "p50_ms"),
            ("p99", "p99_ms"),
            ("time to all", "time_to_all_ms"),
            ("declare answered", "reply_ms"),
        ):
            a, b = sb.get(key), se.get(key)
            r = f"{b / a:.2f}×" if a and b else "—"
            first = (transport.upper(), f"{n:,}") if key == "p50_ms" else ("", "")
            table.add_row(*first, label, _ms(a), _ms(b), r)
        table.add_row("", "", "received all", _all(box), _all(edge), "", style="dim")
    return table


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def _all(phase: Phase | None) -> str:
    if phase is None or phase.error:
        return "failed"
    rounds = phase.rounds
    if not rounds:
        return "—"
    return f"{min(r.received_all for r in rounds):,}/{rounds[0].subscribers:,}"


async def run_edges(options: Options, console: Console, progress: Progress) -> list[Phase]:
    return await EdgeFanout(options, console, progress).run()
