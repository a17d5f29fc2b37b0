"""`tryvoha demo`: a real day of alerts, replayed live on a throwaway server.

The server is the real `tryvoha serve` on a store in a temporary directory; the replay
writes through its public API with an issuer's token, exactly as an oblast administration
would, so the map, the streams and every channel show it as they would show a real day.
The pages show a replay clock (the replayed date and time), and the standing alerts of
Luhansk oblast and Crimea unless `--no-standing-alerts`.

Stopping: SIGINT (Ctrl-C, or `kill -INT` from a script, where a shell may have left SIGINT
ignored) and SIGTERM both stop the child server and remove the temporary store.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import typer

from tryvoha.cli.launch import Launched, LaunchError, launch
from tryvoha.cli.output import console, fail
from tryvoha.data import region_tree
from tryvoha.data.history import FIRST_DAY, LAST_DAY
from tryvoha.domain.events import CONSOLIDATED_SUFFIX
from tryvoha.domain.history import PastAlert, Source
from tryvoha.domain.regions import RegionTree
from tryvoha.domain.replay import Step, busiest, replay_steps
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import issue_token
from tryvoha.engine.history import plan_shipped
from tryvoha.store.sqlite import SqliteStore
from tryvoha.web.names import display_name

KYIV = ZoneInfo("Europe/Kyiv")
START_SECONDS = 60.0
DEMO_ISSUER = "demo"
# The consolidated record's alerts mean "some alert somewhere in this oblast": the demo
# replays them under an issuer that says so (tryvoha.domain.events.is_consolidated).
ISSUERS = {Source.OFFICIAL: DEMO_ISSUER, Source.CONSOLIDATED: DEMO_ISSUER + CONSOLIDATED_SUFFIX}
CLOCK_LEAD_SECONDS = 3.0  # the replay clock starts this long after the server is asked for


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--date: '{text}' is not a date like 2024-11-13")


def _clock(text: str) -> timedelta:
    hours, _, minutes = text.partition(":")
    try:
        offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
    except ValueError:
        fail(f"--from: '{text}' is not a time of day like 06:30")
    if not timedelta(0) <= offset < timedelta(days=1):
        fail(f"--from: '{text}' is not a time of day like 06:30")
    return offset


def demo(
    day: str = typer.Option("2024-11-13", "--date", help="the day to replay (Kyiv time)"),
    speed: float = typer.Option(
        60.0, min=0.1, max=1_000_000, help="how many times faster than real time"
    ),
    start: str = typer.Option("00:00", "--from", help="begin at this time of the day (HH:MM)"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="TCP port to listen on (0 picks a free one)"),
    exit_after: bool = typer.Option(
        False, "--exit", help="stop the server when the replay ends (default: keep serving)"
    ),
    standing: bool = typer.Option(
        True,
        "--standing-alerts/--no-standing-alerts",
        help="show the standing alerts of Luhansk oblast and Crimea (since 2022)",
    ),
) -> None:
    """Replay a real day of alerts on a throwaway server, so the live map comes alive.

    13 November 2024 is the morning the whole country was put under alert ahead of a
    missile attack on Kyiv.
    """
    _stop_on_signals()
    try:
        _run(_day(day), _clock(start), speed, host, port, exit_after, standing)
    except KeyboardInterrupt:
        console.print("stopped")


def _stop_on_signals() -> None:
    """SIGINT and SIGTERM end the demo through its `finally` blocks (child server stopped,
    temporary store removed). Python's own SIGINT handler is missing when the demo starts
    with SIGINT ignored (a background job of a non-interactive shell), and SIGTERM would
    otherwise end the process on the spot."""

    def stop(signum: int, frame: object) -> None:
        # once: a second signal must not interrupt the clean-up the first one started
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _run(
    day: date,
    start: timedelta,
    speed: float,
    host: str,
    port: int,
    exit_after: bool,
    standing: bool,
) -> None:
    tree = region_tree()
    if not FIRST_DAY <= day <= LAST_DAY:
        fail(f"the shipped record has no alerts on {day} (it covers {FIRST_DAY} to {LAST_DAY})")
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=KYIV)
    first = (midnight + start).astimezone(UTC)  # wall-clock time of that day, then UTC
    last = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=KYIV)
    last = last.astimezone(UTC)
    with console.status("reading the shipped record"):
        plan = plan_shipped(tree)
    steps = replay_steps(plan.alerts, first, last)
    if not steps:
        fail(f"the shipped record has no alerts on {day} (it covers {FIRST_DAY} to {LAST_DAY})")
    with tempfile.TemporaryDirectory(prefix="tryvoha-demo-") as tmp:
        store_url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        tokens = asyncio.run(_tokens(store_url, tree))
        anchor = datetime.now(UTC) + timedelta(seconds=CLOCK_LEAD_SECONDS)
        clock = ",".join((first.isoformat(), last.isoformat(), f"{speed:g}", anchor.isoformat()))
        server = _Server(store_url, host, port, ["--demo-replay", clock, *_standing(standing)])
        try:
            url = server.start()
            console.print(f"store: {tmp} (removed when the demo stops)", style="dim")
            _introduce(url, steps, first, last, speed, plan.cutover)
            _replay(url, tokens, steps, first, speed, tree, anchor)
            if exit_after:
                return
            console.print("replay finished; the server keeps the day's end state. Ctrl-C stops it.")
            server.wait()
        finally:
            server.stop()


def _standing(on: bool) -> list[str]:
    return [] if on else ["--no-standing-alerts"]


async def _tokens(store_url: str, tree: RegionTree) -> dict[Source, str]:
    store = SqliteStore(store_url)
    await store.open()
    try:
        return {
            source: (await issue_token(store, tree, name, Role.ISSUER, ["UA"])).secret
            for source, name in ISSUERS.items()
        }
    finally:
        await store.close()


class _Server:
    """`tryvoha serve` as a child process."""

    def __init__(self, store_url: str, host: str, port: int, extra: Sequence[str]) -> None:
        self.args = [
            "--host", host, "--port", str(port), "--store", store_url, "--log-level", "warning",
            *extra,
            "--cap-status", "Exercise",  # a replayed day: its CAP messages are not real alerts
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.launched: Launched | None = None
        self.output: list[str] = []

    def start(self) -> str:
        # its own session: a Ctrl-C in the terminal reaches the demo, which stops the
        # server in order, instead of both at once
        try:
            self.launched = launch(
                self.args, new_session=True, seconds=START_SECONDS, output=self.output
            )
        except LaunchError as e:
            fail(f"the demo server did not start: {e}")
        self.proc = self.launched.proc
        return self.launched.url

    def wait(self) -> None:
        if self.proc is not None:
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _local(moment: datetime) -> str:
    return moment.astimezone(KYIV).strftime("%H:%M")


def _introduce(
    url: str,
    steps: Sequence[Step],
    first: datetime,
    last: datetime,
    speed: float,
    cutover: datetime | None,
) -> None:
    wall = (last - first) / speed
    console.print(f"[bold]open {url}/[/] to watch the map", highlight=False)
    console.print(
        f"replaying {first.astimezone(KYIV):%d %B %Y} from {_local(first)} Kyiv time at {speed:g}x: "
        f"{_duration(wall)} for {_duration(last - first)} of alerts; API: {url}/api/v1/state",
        highlight=False,
    )
    source = Source.OFFICIAL if cutover is None or first < cutover else Source.CONSOLIDATED
    console.print(f"record: {source.value} ({source.meaning})", style="dim", highlight=False)
    peak = busiest(steps)
    if peak is not None:
        console.print(
            f"most alerts at once: {peak.active}, at {_local(peak.at)} Kyiv time, "
            f"{_duration((peak.at - first) / speed)} from now",
            highlight=False,
        )


def _duration(span: timedelta) -> str:
    seconds = round(span.total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _message(alert: PastAlert) -> dict[str, str]:
    at = alert.started_at.astimezone(KYIV)
    uk = f"Демо: повтор тривоги, оголошеної {at:%d.%m.%Y} о {at:%H:%M} за київським часом"
    en = f"Demo: replay of the alert declared on {at:%d %b %Y} at {at:%H:%M} Kyiv time"
    if alert.source is Source.CONSOLIDATED:
        uk += " (запис лише по області: тривога десь у ній)"
        en += " (an oblast-level record: some alert somewhere in the oblast)"
    return {"uk": uk, "en": en}


def _replay(
    url: str,
    tokens: dict[Source, str],
    steps: Sequence[Step],
    first: datetime,
    speed: float,
    tree: RegionTree,
    anchor: datetime,
) -> None:
    live: dict[str, str] = {}  # history alert id -> the id the server gave it
    # the pages' replay clock reads `anchor` as `first`: the replay keeps to the same clock
    began = time.monotonic() + (anchor - datetime.now(UTC)).total_seconds()
    active = 0
    with httpx.Client(base_url=url, timeout=30) as http:
        for number, step in enumerate(steps):
            delay = began + (step.at - first).total_seconds() / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for alert in step.clear:
                _post(
                    http,
                    tokens[alert.source],
                    f"/api/v1/alerts/{live.pop(alert.id)}/clear",
                    None,
                    f"{number}-c-{alert.id}",
                )
            for alert in step.declare:  # one request per alert: each keeps its own message
                body = {"regions": [alert.region_id], "message": _message(alert)}
                answer = _post(
                    http, tokens[alert.source], "/api/v1/alerts", body, f"{number}-d-{alert.id}"
                )
                live[alert.id] = answer["alerts"][0]["id"]
            active += len(step.declare) - len(step.clear)
            _show(step, active, tree)
    console.print(f"replayed {len(steps)} moments; {active} alerts still active at the day's end")


def _post(http: httpx.Client, token: str, path: str, body: Any, key: str) -> Any:
    headers = {"Idempotency-Key": f"demo-{key}", "Authorization": f"Bearer {token}"}
    try:
        response = http.post(path, json=body, headers=headers)
    except httpx.HTTPError as e:
        fail(f"the demo server stopped answering: {e}")
    if not response.is_success:
        fail(f"POST {path} answered {response.status_code}: {response.text[:200]}")
    return response.json()


def _show(step: Step, active: int, tree: RegionTree) -> None:
    def names(alerts: Sequence[PastAlert]) -> str:
        shown = ", ".join(display_name(a.region_id) for a in alerts[:4])
        return shown + (f" and {len(alerts) - 4} more" if len(alerts) > 4 else "")

    parts = []
    if step.declare:
        parts.append(f"[red]alert[/] {names(step.declare)}")
    if step.clear:
        parts.append(f"[green]clear[/] {names(step.clear)}")
    console.print(f"{_local(step.at)}  {'; '.join(parts)}  ({active} active)", highlight=False)
