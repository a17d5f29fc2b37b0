"""`tryvoha declare | clear | status | tail`: an issuer's and a watcher's commands, over HTTP."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import typer
from httpx_sse import connect_sse
from rich.table import Table
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

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
        nonlocal last
        headers = {} if last is None else {"Last-Event-ID": str(last)}
        timeouts = httpx.Timeout(10.0, read=45.0)  # the server's heartbeat is every 15 s
        with (
            httpx.Client(timeout=timeouts) as client,
            connect_sse(
                client, "GET", url.rstrip("/") + "/api/v1/events", params=params, headers=headers
            ) as source,
        ):
            if not source.response.is_success:
                source.response.read()
                answer(source.response)  # one error line, and out
            for sse in source.iter_sse():
                if sse.event.startswith("alert."):
                    data = orjson.loads(sse.data)
                    last = data["seq"]
                    _print_event(data, as_json)
        raise httpx.RemoteProtocolError("the stream ended")

    def lost(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        errors.print(
            f"[yellow]stream lost ({type(error).__name__}); reconnecting after seq {last}…[/]"
        )

    reconnect = Retrying(
        retry=retry_if_exception_type((httpx.TransportError, httpx.RemoteProtocolError)),
        wait=wait_exponential_jitter(initial=0.5, max=10.0),
        before_sleep=lost,
    )
    with contextlib.suppress(KeyboardInterrupt):
        reconnect(follow)


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
