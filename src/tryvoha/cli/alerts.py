"""`tryvoha declare | clear | status | tail`: an issuer's and a watcher's commands, over HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import typer
from httpx_sse import SSEError, connect_sse
from rich.table import Table
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from tryvoha.cli.client import DEFAULT_URL, Api, answer
from tryvoha.cli.output import console, errors, fail
from tryvoha.data import region_tree
from tryvoha.domain.alerts import AlertLevel, ThreatKind, ThreatType
from tryvoha.domain.errors import UnknownRegionError
from tryvoha.protocol.wire import parse_time
from tryvoha.web.names import display_name

UrlOption = typer.Option(DEFAULT_URL, "--url", envvar="TRYVOHA_URL", help="the server")
TokenOption = typer.Option(None, "--token", envvar="TRYVOHA_TOKEN", help="an issuer's token")


def region_ids(values: list[str], option: str = "--region") -> list[str]:
    """Ids or unique names (Lviv, Львівська) to ids."""
    tree = region_tree()
    ids: list[str] = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                try:
                    ids.append(tree.resolve(part.strip()).id)
                except UnknownRegionError as e:
                    fail(f"{option}: {e.detail}")
    return ids


def region_name(region_id: str) -> str:
    return display_name(region_id)


def ago(text: str) -> str:
    seconds = int((datetime.now(UTC) - parse_time(text)).total_seconds())
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def show_alerts(alerts: list[dict[str, Any]], title: str) -> None:
    table = Table("region", "threat", "level", "since", "for", "threats", "id", title=title)
    for a in alerts:
        table.add_row(
            region_name(a["region_id"]),
            a["threat"],
            a["level"],
            a["started_at"][:19].replace("T", " "),
            ago(a["started_at"]) if a["ended_at"] is None else "ended",
            ",".join(t["kind"] for t in a["threats"]),
            a["id"],
            style="red" if a["level"] == "red" else "yellow",
        )
    console.print(table)


def declare(
    region: list[str] = typer.Option(
        ..., "--region", "-r", help="region id or unique name; repeat or comma-separate"
    ),
    threat: ThreatType = typer.Option(ThreatType.AIR_RAID, help="threat type"),
    level: AlertLevel = typer.Option(
        AlertLevel.RED, help="red: take shelter now; yellow: elevated danger"
    ),
    threats: str = typer.Option(
        "", help="what is coming, comma-separated: " + ", ".join(ThreatKind)
    ),
    message_uk: str | None = typer.Option(None, help="message in Ukrainian"),
    message_en: str | None = typer.Option(None, help="message in English"),
    url: str = UrlOption,
    token: str | None = TokenOption,
    idempotency_key: str | None = typer.Option(
        None, help="retry-safe key (one is made if not given)"
    ),
) -> None:
    """Declare alerts: one per region, all in one transaction."""
    kinds = [k.strip() for k in threats.split(",") if k.strip()]
    for kind in kinds:
        if kind not in ThreatKind.__members__.values():
            fail(f"--threats: '{kind}' is not one of {', '.join(ThreatKind)}")
    body: dict[str, Any] = {
        "regions": region_ids(region),
        "threat": threat.value,
        "level": level.value,
        "threats": kinds,
    }
    if message_uk or message_en:
        body["message"] = {"uk": message_uk, "en": message_en}
    key = idempotency_key or f"cli-{time.time_ns()}"
    result = Api(url, token).request(
        "POST", "/api/v1/alerts", json=body, headers={"Idempotency-Key": key}
    )
    show_alerts(result["alerts"], f"declared, seq {result['seq']}")


def clear(
    alert: str | None = typer.Option(None, "--alert", help="the alert's id"),
    region: str | None = typer.Option(
        None, "--region", "-r", help="clear this region and every region below it"
    ),
    threat: ThreatType | None = typer.Option(None, help="with --region: only this threat type"),
    url: str = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Clear one alert, or every active alert of a region and below it."""
    if (alert is None) == (region is None):
        fail("name what to clear: --alert ID or --region ID")
    api = Api(url, token)
    key = {"Idempotency-Key": f"cli-{time.time_ns()}"}
    if alert is not None:
        result = api.request("POST", f"/api/v1/alerts/{alert}/clear", headers=key)
    else:
        params = {"threat": threat.value} if threat else {}
        rid = region_ids([region or ""])[0]
        result = api.request("POST", f"/api/v1/regions/{rid}/clear", params=params, headers=key)
    show_alerts(result["alerts"], f"cleared, seq {result['seq']}")


def status(url: str = UrlOption) -> None:
    """Active alerts, as a table."""
    result = Api(url).request("GET", "/api/v1/alerts/active")
    if not result["alerts"]:
        console.print(f"no active alerts (seq {result['seq']})")
        return
    show_alerts(result["alerts"], f"{len(result['alerts'])} active alerts, seq {result['seq']}")


def tail(
    region: list[str] = typer.Option(
        [], "--region", "-r", help="only events of this region, above or below it"
    ),
    after: int | None = typer.Option(None, help="start after this seq (default: new events only)"),
    as_json: bool = typer.Option(False, "--json", help="print each event's JSON on one line"),
    url: str = UrlOption,
) -> None:
    """Follow the event stream; reconnects by itself and resumes where it left off."""
    params = httpx.QueryParams([("region", r) for r in region_ids(region)])
    last = after

    def follow() -> None:
        """Returns when a stream that was up ends; raises when none could be had."""
        nonlocal last
        headers = {} if last is None else {"Last-Event-ID": str(last)}
        timeouts = httpx.Timeout(10.0, read=45.0)  # the server's heartbeat is every 15 s
        with (
            httpx.Client(timeout=timeouts) as client,
            connect_sse(
                client, "GET", url.rstrip("/") + "/api/v1/events", params=params, headers=headers
            ) as source,
        ):
            status = source.response.status_code
            if status == 429 or status >= 500:  # busy or away for a moment: wait, try again
                raise _Busy(status, source.response.headers.get("retry-after"))
            if not source.response.is_success:
                source.response.read()
                answer(source.response)  # one error line, and out
            try:
                for sse in source.iter_sse():
                    if sse.event.startswith("alert."):
                        data = orjson.loads(sse.data)
                        last = data["seq"]
                        _print_event(data, as_json)
            except httpx.TransportError as e:
                lost(type(e).__name__)
                return
        lost("the stream ended")

    def lost(why: str) -> None:
        errors.print(f"[yellow]stream lost ({why}); reconnecting after seq {last}…[/]")

    def waiting(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        lost(str(error) if isinstance(error, _Busy) else type(error).__name__)

    backoff = wait_exponential_jitter(initial=0.5, max=10.0, jitter=0.5)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _Busy) and error.seconds is not None:
            return error.seconds
        return float(backoff(state))

    def retried(error: BaseException) -> bool:
        # a URL or a server that will never give a stream is said once, not retried
        fatal = (httpx.UnsupportedProtocol, httpx.InvalidURL, SSEError)
        return isinstance(error, _Busy | httpx.TransportError) and not isinstance(error, fatal)

    try:
        while True:  # each stream that was up starts the waiting afresh
            Retrying(retry=retry_if_exception(retried), wait=wait, before_sleep=waiting)(follow)
            time.sleep(0.5)
    except KeyboardInterrupt:
        return
    except (httpx.UnsupportedProtocol, httpx.InvalidURL, SSEError) as e:
        fail(f"cannot follow {url}: {e}")


class _Busy(Exception):
    """A 429 or 5xx: the server is there but cannot take the stream now."""

    def __init__(self, status: int, retry_after: str | None) -> None:
        self.seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
        super().__init__(f"HTTP {status}")


def _print_event(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(orjson.dumps(data).decode(), flush=True)
        return
    alert = data["alert"]
    colour = {"alert.declared": "red", "alert.updated": "yellow", "alert.cleared": "green"}[
        data["type"]
    ]
    console.print(
        f"[dim]{data['seq']:>7}[/] {data['at'][:19].replace('T', ' ')} [{colour}]{data['type']:<14}[/] "
        f"{region_name(alert['region_id'])} · {alert['threat']} · {alert['level']} · by {data['issuer']}",
        highlight=False,
    )
