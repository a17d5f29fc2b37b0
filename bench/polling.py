"""Polling: `GET /api/v1/alerts/active` with and without `If-None-Match`, requests per
second by wrk, against nginx serving the same bytes as a static file (with and without
nginx's own ETag). Both servers hold the same state: a nationwide alert, 27 active.

The host's speed drifts by tens of percent within a minute, so the two servers take
turns: ROUNDS short wrk runs each, alternating, and each server's median is reported.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from rich.console import Console

from bench.fanout import MESSAGE, expect_status, oblasts
from bench.http import Http
from bench.options import Options
from bench.servers import HOST, Nginx, ServerError, Tryvoha, nginx_workers

WARM_UP_SECONDS = 2
ROUNDS = 3  # the poll seconds are split into this many alternating runs per server
PATH = "/api/v1/alerts/active"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(slots=True)
class WrkRun:
    server: str
    conditional: bool  # sent If-None-Match with the server's current ETag
    status: int  # what a probe with the same headers got (200 or 304)
    requests_per_second: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    requests: int
    errors: dict[str, int]
    command: str
    rounds: list[float] = field(default_factory=list)  # requests/s of each run; the median above


@dataclass(slots=True)
class Polling:
    body_bytes: int = 0
    tryvoha_etag: str = ""
    nginx_etag: str = ""
    tryvoha_workers: int = 0
    nginx_workers: int = 0
    runs: list[WrkRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def rps(self, server: str, conditional: bool) -> float | None:
        for run in self.runs:
            if run.server == server and run.conditional == conditional:
                return run.requests_per_second
        return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_duration_ms(text: str) -> float | None:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(output: str) -> tuple[float | None, float | None, float | None, int, dict[str, int]]:
    """Requests/s, p50 and p99 latency (ms), requests, and errors from `wrk --latency`."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    errors: dict[str, int] = {}
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock:
        for name, value in zip(("connect", "read", "write", "timeout"), sock.groups(), strict=True):
            if int(value):
                errors[f"socket {name}"] = int(value)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        errors["non-2xx/3xx"] = int(bad.group(1))
    return (
        float(rps.group(1)) if rps else None,
        parse_duration_ms(p50.group(1)) if p50 else None,
        parse_duration_ms(p99.group(1)) if p99 else None,
        int(total.group(1)) if total else 0,
        errors,
    )


async def wrk(options: Options, url: str, etag: str | None, seconds: int) -> tuple[str, str]:
    cmd = ["wrk", f"-t{options.poll_threads}", f"-c{options.poll_connections}", f"-d{seconds}s"]
    cmd += ["--latency", "--timeout", "5s"]
    if etag is not None:
        cmd += ["-H", f"If-None-Match: {etag}"]
    cmd.append(url)
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(seconds + 30):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return " ".join(cmd), out.decode(errors="replace")


@dataclass(frozen=True, slots=True)
class Target:
    server: str
    port: int
    path: str
    etag: str


async def measure(options: Options, targets: list[Target], polling: Polling) -> None:
    """For each kind of request, ROUNDS runs per server, the servers alternating."""
    seconds = max(1, round(options.poll_seconds / ROUNDS))
    for conditional in (False, True):
        outputs: dict[str, list[tuple[str, str]]] = {t.server: [] for t in targets}
        probes: dict[str, int] = {}
        for target in targets:
            async with Http(HOST, target.port) as http:
                headers = {"If-None-Match": target.etag} if conditional else {}
                probe = await http.request("GET", target.path, headers)
            expect_status(probe, 304 if conditional else 200, f"{target.server} GET {target.path}")
            probes[target.server] = probe.status
            url = f"http://{HOST}:{target.port}{target.path}"
            await wrk(options, url, target.etag if conditional else None, WARM_UP_SECONDS)
        for _ in range(ROUNDS):
            for target in targets:
                url = f"http://{HOST}:{target.port}{target.path}"
                etag = target.etag if conditional else None
                outputs[target.server].append(await wrk(options, url, etag, seconds))
        for target in targets:
            polling.runs.append(
                summarise(target.server, conditional, probes[target.server], outputs[target.server])
            )


def summarise(
    server: str, conditional: bool, status: int, outputs: list[tuple[str, str]]
) -> WrkRun:
    """The median run (by requests/s) stands for the server; every run's rate is kept."""
    parsed = [(parse_wrk(out), command) for command, out in outputs]
    rates = [p[0][0] for p in parsed if p[0][0] is not None]
    ranked = sorted(parsed, key=lambda p: p[0][0] or 0.0)
    (rps, p50, p99, _, _), command = ranked[len(ranked) // 2]
    errors: dict[str, int] = {}
    for (_, _, _, _, errs), _ in parsed:
        for name, n in errs.items():
            errors[name] = errors.get(name, 0) + n
    total = sum(p[0][3] for p in parsed)
    return WrkRun(server, conditional, status, rps, p50, p99, total, errors, command, rates)


async def run_polling(options: Options, console: Console) -> Polling:
    polling = Polling()
    if shutil.which("wrk") is None:
        polling.error = "wrk is not installed (make system-bench)"
        return polling
    workers = options.tryvoha_workers_for_requests()
    tryvoha = Tryvoha(options.tmp / "polling-tryvoha", workers)
    nginx = Nginx(options.tmp / "polling-nginx", options.nginx_workers or nginx_workers(0))
    polling.nginx_workers = nginx.workers
    try:
        try:
            await tryvoha.start()
        except ServerError as e:
            if options.workers is not None or workers == 1:
                raise
            polling.notes.append(f"--workers {workers} failed; measured with --workers 1")
            await tryvoha.stop()
            tryvoha = Tryvoha(options.tmp / "polling-tryvoha-w1", 1)
            await tryvoha.start()
            console.print(f"[yellow]polling: tryvoha --workers {workers}: {e}"[:300])
        polling.tryvoha_workers = tryvoha.workers
        async with Http(HOST, tryvoha.port) as http:
            regions = await oblasts(http)
            body = orjson.dumps(
                {"regions": regions, "threats": ["ballistic_missiles"], "message": MESSAGE}
            )
            expect_status(
                await http.request("POST", "/api/v1/alerts", tryvoha.auth, body), 201, "declare"
            )
            reply = await http.request("GET", PATH)
            expect_status(reply, 200, f"GET {PATH}")
        polling.body_bytes = len(reply.body)
        polling.tryvoha_etag = reply.headers.get("etag", "")
        if not polling.tryvoha_etag:
            raise ServerError(f"GET {PATH} sent no ETag")
        static = nginx.put_static("alerts-active.json", reply.body)
        await nginx.start()
        async with Http(HOST, nginx.port) as http:
            same = await http.request("GET", static)
        if same.body != reply.body:
            raise ServerError("nginx does not serve the same bytes")
        polling.nginx_etag = same.headers.get("etag", "")
        console.print(
            f"  polling {polling.body_bytes:,} B: tryvoha ({tryvoha.workers} processes) and "
            f"nginx static ({nginx.workers} workers), {ROUNDS} alternating runs each ...",
            highlight=False,
        )
        targets = [
            Target("tryvoha", tryvoha.port, PATH, polling.tryvoha_etag),
            Target("nginx", nginx.port, static, polling.nginx_etag),
        ]
        await measure(options, targets, polling)
    except (ServerError, OSError, TimeoutError) as e:
        polling.error = f"{type(e).__name__}: {e}"
        console.print(f"[red]polling: {polling.error}"[:500], highlight=False)
    finally:
        polling.problems = (tryvoha.problems() + nginx.problems())[:50]
        await tryvoha.stop()
        await nginx.stop()
    return polling
