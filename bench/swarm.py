"""The controller's side of the fan-out client: a few `bench.client` processes that
together hold N subscribers, connect them, and time rounds of events.

Each process holds at most PER_PROCESS subscribers (the hard limit on open files is
20,000 per process here), and the subscribers are spread over several loopback source
addresses so that N may exceed the ephemeral port range of one address.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import orjson

from bench.client import Target

PER_PROCESS = 15_000
PER_SOURCE_ADDRESS = 20_000  # of the ~28,000 ephemeral ports, with room for other sockets
CONCURRENCY = 256  # connects in flight per process
CONNECT_TIMEOUT_SECONDS = 30.0
STALL_SECONDS = 15.0  # a connect stage with no progress for this long is ended
REPLY_SECONDS = 30.0
CLOSE_SECONDS = 20.0
ROOT = Path(__file__).resolve().parent.parent


def client_processes(n: int, wanted: int | None = None) -> int:
    needed = max(1, math.ceil(n / PER_PROCESS))
    if wanted is None:
        return max(2, math.ceil(n / 12_500)) if n > 1 else 1
    return max(wanted, needed)


def source_addresses(n: int) -> list[str]:
    count = max(1, math.ceil(n / PER_SOURCE_ADDRESS))
    return [f"127.0.0.{i}" for i in range(1, count + 1)]


class SwarmError(Exception):
    pass


@dataclass(slots=True)
class ConnectResult:
    wanted: int
    connected: int
    failed: int
    errors: dict[str, int]
    seconds: float
    stalled: bool = False

    @property
    def complete(self) -> bool:
        return self.connected == self.wanted


@dataclass(slots=True)
class RoundResult:
    """One round: the send time and, per subscriber that got every event, its receipt."""

    t0_ns: int
    subscribers: int  # ready subscribers when the round was armed
    times_ns: list[int]
    missing: int  # subscribers that did not get every event before the deadline
    lost: int  # subscribers whose connection closed during the round
    bytes: int  # bytes all subscribers read during the round
    reads: int  # data_received calls during the round
    user_ns: list[int]  # CPU each client process used from arming to its last receipt
    system_ns: list[int]
    last_ns: list[int]  # when each client process saw its last subscriber complete
    quiet: bool  # some process ended the round because bytes stopped coming
    errors: dict[str, int]
    reply_ns: int = 0  # when the trigger's HTTP answer came
    status: int = 0

    @property
    def cpu_ns(self) -> list[int]:
        return [u + s for u, s in zip(self.user_ns, self.system_ns, strict=True)]

    def latencies_ms(self) -> list[float]:
        return sorted((t - self.t0_ns) / 1e6 for t in self.times_ns)


@dataclass(eq=False)
class WorkerProc:
    proc: asyncio.subprocess.Process
    replies: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    connected: int = 0
    failed: int = 0
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            msg: dict[str, Any] = orjson.loads(line)
            op = msg["op"]
            if op == "progress":
                self.connected, self.failed = msg["connected"], msg["failed"]
            elif op == "complete":
                self.complete.set()
            else:
                self.replies.put_nowait(msg)
        self.replies.put_nowait({"op": "exited"})

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps(command) + b"\n")

    async def reply(self, op: str, timeout_s: float = REPLY_SECONDS) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            msg = await self.replies.get()
        if msg["op"] != op:
            raise SwarmError(f"client process {self.proc.pid}: expected {op}, got {msg['op']}")
        return msg


class Swarm:
    """`async with Swarm(4) as swarm:` four client processes, ended on exit."""

    def __init__(self, processes: int, log_dir: Path, verify: bool = False) -> None:
        self.processes = processes
        self.log_dir = log_dir
        self.verify = verify
        self.workers: list[WorkerProc] = []
        self.subscribers = 0

    async def __aenter__(self) -> Self:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for i in range(self.processes):
            with (self.log_dir / f"client-{i}.log").open("ab") as log:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.client",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log,
                    cwd=ROOT,
                    limit=64 << 20,
                )
            worker = WorkerProc(proc)
            worker.reader = asyncio.get_running_loop().create_task(worker.read())
            self.workers.append(worker)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers]

    async def connect(
        self,
        target: Target,
        n: int,
        on_progress: Callable[[int, int], None] | None = None,
        deadline_s: float | None = None,
    ) -> ConnectResult:
        """Connect n subscribers and wait until the server confirmed each (or it stalls)."""
        sources = source_addresses(n)
        shares = [n // self.processes + (i < n % self.processes) for i in range(self.processes)]
        start = time.monotonic()
        for i, (worker, share) in enumerate(zip(self.workers, shares, strict=True)):
            worker.connected = worker.failed = 0
            worker.send(
                op="connect",
                target=target.to_json(),
                count=share,
                sources=sources[i % len(sources) :] + sources[: i % len(sources)],
                concurrency=CONCURRENCY,
                timeout_s=CONNECT_TIMEOUT_SECONDS,
                verify=self.verify,
            )
        finals = [asyncio.ensure_future(w.reply("connected", 1e9)) for w in self.workers]
        deadline = start + (deadline_s if deadline_s is not None else 60 + n / 250)
        best, best_at, stalled = -1, start, False
        try:
            while not all(f.done() for f in finals):
                await asyncio.wait(finals, timeout=0.1)
                done = sum(w.connected + w.failed for w in self.workers)
                if on_progress is not None:
                    on_progress(sum(w.connected for w in self.workers), done)
                now = time.monotonic()
                if done > best:
                    best, best_at = done, now
                if (now - best_at > STALL_SECONDS or now > deadline) and not stalled:
                    stalled = True
                    for worker in self.workers:
                        worker.send(op="stop")
                    async with asyncio.timeout(REPLY_SECONDS):
                        await asyncio.gather(*finals)
        finally:
            for f in finals:
                if not f.done():
                    f.cancel()
        errors: Counter[str] = Counter()
        connected = failed = 0
        for f in finals:
            msg = f.result()
            connected += msg["connected"]
            failed += msg["failed"]
            errors.update(msg["errors"])
        self.subscribers = connected
        if on_progress is not None:
            on_progress(connected, connected + failed)
        return ConnectResult(n, connected, failed, dict(errors), time.monotonic() - start, stalled)

    async def arm(self, expect: int, marker: str | None = None) -> int:
        """Start a round in which each subscriber expects `expect` events, the last of
        which begins with `marker`; returns how many subscribers are live."""
        for worker in self.workers:
            worker.complete.clear()
            worker.send(op="arm", expect=expect, marker=marker)
        replies = await asyncio.gather(*(w.reply("armed") for w in self.workers))
        return sum(int(r["live"]) for r in replies)

    async def wait_complete(self, timeout_s: float) -> bool:
        """Until every subscriber has the round's events; False when the time ran out."""
        try:
            async with asyncio.timeout(timeout_s):
                for worker in self.workers:
                    await worker.complete.wait()
        except TimeoutError:
            return False
        return True

    async def collect(self, t0_ns: int, subscribers: int) -> RoundResult:
        for worker in self.workers:
            worker.send(op="collect")
        replies = await asyncio.gather(*(w.reply("round") for w in self.workers))
        errors: Counter[str] = Counter()
        for r in replies:
            errors.update(r["errors"])
        return RoundResult(
            t0_ns=t0_ns,
            subscribers=subscribers,
            times_ns=[t for r in replies for t in r["times"]],
            missing=sum(r["missing"] for r in replies),
            lost=sum(r["lost"] for r in replies),
            bytes=sum(r["bytes"] for r in replies),
            reads=sum(r["reads"] for r in replies),
            user_ns=[r["user_ns"] for r in replies],
            system_ns=[r["system_ns"] for r in replies],
            last_ns=[r["last_ns"] for r in replies],
            quiet=any(r["quiet"] for r in replies),
            errors=dict(errors),
        )

    async def ids(self) -> list[list[str]]:
        for worker in self.workers:
            worker.send(op="ids")
        replies = await asyncio.gather(*(w.reply("ids") for w in self.workers))
        return [ids for r in replies for ids in r["ids"]]

    async def close(self) -> dict[str, int]:
        """Reset every connection and end the processes, within CLOSE_SECONDS."""
        errors: Counter[str] = Counter()
        for worker in self.workers:
            if worker.proc.returncode is None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    worker.send(op="close")
        for worker in self.workers:
            with contextlib.suppress(TimeoutError, SwarmError):
                errors.update((await worker.reply("closed", CLOSE_SECONDS))["errors"])
        for worker in self.workers:
            try:
                async with asyncio.timeout(CLOSE_SECONDS):
                    await worker.proc.wait()
            except TimeoutError:
                worker.proc.kill()
                await worker.proc.wait()
            if worker.reader is not None:
                worker.reader.cancel()
        self.workers = []
        return dict(errors)
