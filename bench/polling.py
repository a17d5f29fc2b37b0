"""Polling: `GET /api/v1/alerts/active` with and without `If-None-Match`, and the LED
maps' and Home Assistant's `GET /v1/iot/active_air_raid_alerts_by_oblast.json` (the
alerts.in.ua-compatible API, with an API key, plain and with `If-Modified-Since`),
requests per second by wrk, against nginx serving the same bytes as a static file (with
nginx's own ETag and Last-Modified). Both servers hold the same state: a nationwide
alert, 27 active.

The compatible API checks the key and takes from its rate-limit bucket on every request;
the bench raises the limit (KEY_RATE) so that the check is measured, not the refusals.

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
IOT_PATH = "/v1/iot/active_air_raid_alerts_by_oblast.json"
KEY_RATE = "999999999/s"  # every request still goes through the key and its bucket
SETTLE_WAIT_SECONDS = 15.0  # until tryvoha's Last-Modified of a change is final (a 304 is due)
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
    path: str = PATH  # tryvoha's path (nginx serves the same bytes from a static file)


@dataclass(slots=True)
class Polling:
    body_bytes: int = 0
    tryvoha_etag: str = ""
    nginx_etag: str = ""
    iot_body: str = ""
    tryvoha_last_modified: str = ""
    nginx_last_modified: str = ""
    tryvoha_workers: int = 0
    nginx_workers: int = 0
    runs: list[WrkRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def rps(self, server: str, conditional: bool, path: str = PATH) -> float | None:
        for run in self.runs:
            if run.server == server and run.conditional == conditional and run.path == path:
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


async def wrk(options: Options, url: str, headers: dict[str, str], seconds: int) -> tuple[str, str]:
    cmd = ["wrk", f"-t{options.poll_threads}", f"-c{options.poll_connections}", f"-d{seconds}s"]
    cmd += ["--latency", "--timeout", "5s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
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
    validator: tuple[str, str]  # the header a conditional run sends: its answer is 304
    headers: tuple[tuple[str, str], ...] = ()  # sent on every request (an API key)
    label: str = PATH  # the path reported: tryvoha's, for both servers

    def request_headers(self, conditional: bool) -> dict[str, str]:
        return {**dict(self.headers), **(dict([self.validator]) if conditional else {})}


async def measure(options: Options, targets: list[Target], polling: Polling) -> None:
    """For each kind of request, ROUNDS runs per server, the servers alternating."""
    seconds = max(1, round(options.poll_seconds / ROUNDS))
    for conditional in (False, True):
        outputs: dict[str, list[tuple[str, str]]] = {t.server: [] for t in targets}
        probes: dict[str, int] = {}
        for target in targets:
            headers = target.request_headers(conditional)
            async with Http(HOST, target.port) as http:
                probe = await http.request("GET", target.path, headers)
            expect_status(probe, 304 if conditional else 200, f"{target.server} GET {target.path}")
            probes[target.server] = probe.status
            url = f"http://{HOST}:{target.port}{target.path}"
            await wrk(options, url, headers, WARM_UP_SECONDS)
        for _ in range(ROUNDS):
            for target in targets:
                url = f"http://{HOST}:{target.port}{target.path}"
                headers = target.request_headers(conditional)
                outputs[target.server].append(await wrk(options, url, headers, seconds))
        for target in targets:
            run = summarise(
                target.server, conditional, probes[target.server], outputs[target.server]
            )
            run.path = target.label
            polling.runs.append(run)


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
    limits = ["--alerts-in-ua-rate-limit", KEY_RATE]
    tryvoha = Tryvoha(options.tmp / "polling-tryvoha", workers, limits)
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
            tryvoha = Tryvoha(options.tmp / "polling-tryvoha-w1", 1, limits)
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
            Target("tryvoha", tryvoha.port, PATH, ("If-None-Match", polling.tryvoha_etag)),
            Target("nginx", nginx.port, static, ("If-None-Match", polling.nginx_etag)),
        ]
        await measure(options, targets, polling)
        await measure_iot(options, tryvoha, nginx, polling, console)
    except (ServerError, OSError, TimeoutError) as e:
        polling.error = f"{type(e).__name__}: {e}"
        console.print(f"[red]polling: {polling.error}"[:500], highlight=False)
    finally:
        polling.problems = (tryvoha.problems() + nginx.problems())[:50]
        await tryvoha.stop()
        await nginx.stop()
    return polling


async def settled_last_modified(tryvoha: Tryvoha, headers: dict[str, str]) -> str:
    """tryvoha's Last-Modified of the IoT string once it is final: a client sending it
    back gets 304 (it is the second before while the change's second may still change)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_WAIT_SECONDS
    async with Http(HOST, tryvoha.port) as http:
        while True:
            reply = await http.request("GET", IOT_PATH, headers)
            expect_status(reply, 200, f"GET {IOT_PATH}")
            stamp = reply.headers.get("last-modified", "")
            again = await http.request("GET", IOT_PATH, {**headers, "If-Modified-Since": stamp})
            if again.status == 304:
                return stamp
            if loop.time() > deadline:
                raise ServerError(f"{IOT_PATH}: If-Modified-Since {stamp!r} never gave 304")
            await asyncio.sleep(0.5)


async def measure_iot(
    options: Options, tryvoha: Tryvoha, nginx: Nginx, polling: Polling, console: Console
) -> None:
    """The alerts.in.ua IoT string, as LED maps poll it, against the same bytes static."""
    key = {"Authorization": f"Bearer {tryvoha.token}"}
    stamp = await settled_last_modified(tryvoha, key)
    async with Http(HOST, tryvoha.port) as http:
        reply = await http.request("GET", IOT_PATH, key)
    expect_status(reply, 200, f"GET {IOT_PATH}")
    polling.iot_body = reply.body.decode()
    polling.tryvoha_last_modified = stamp
    static = nginx.put_static("iot-by-oblast.json", reply.body)
    async with Http(HOST, nginx.port) as http:
        same = await http.request("GET", static)
    if same.body != reply.body:
        raise ServerError("nginx does not serve the same IoT bytes")
    polling.nginx_last_modified = same.headers.get("last-modified", "")
    console.print(
        f"  polling {IOT_PATH} ({len(reply.body)} B, with an API key) vs nginx static ...",
        highlight=False,
    )
    targets = [
        Target(
            "tryvoha",
            tryvoha.port,
            IOT_PATH,
            ("If-Modified-Since", stamp),
            tuple(key.items()),
            IOT_PATH,
        ),
        Target(
            "nginx",
            nginx.port,
            static,
            ("If-Modified-Since", polling.nginx_last_modified),
            (),
            IOT_PATH,
        ),
    ]
    await measure(options, targets, polling)
