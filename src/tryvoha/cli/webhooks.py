"""`tryvoha webhook add|list|show|remove|resume|replay`: webhook subscriptions, over HTTP
with an admin token.

Over HTTP rather than straight on the store (as `tryvoha token` is): the server checks a
URL with its own resolver and its own --webhooks-allow-private, audits the change under
the token's name, and tells its delivering process at once; and an admin needs a token,
not the store's credentials, from wherever they work.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from tryvoha.cli.alerts import UrlOption, region_ids, region_name
from tryvoha.cli.client import Api
from tryvoha.cli.output import console, fail
from tryvoha.domain.alerts import ThreatType

app = typer.Typer(
    help="Webhooks: events POSTed to your URL, signed, in order (docs/webhooks.md).",
    no_args_is_help=True,
)

AdminToken = typer.Option(None, "--token", envvar="TRYVOHA_TOKEN", help="an admin token")


def _threats(values: list[str]) -> list[str]:
    found = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part and part not in ThreatType.__members__.values():
                fail(f"--threat: '{part}' is not one of {', '.join(ThreatType)}")
            if part:
                found.append(part)
    return found


def _where(data: dict[str, Any]) -> str:
    regions = data["regions"]
    threats = data["threats"]
    where = "everywhere" if regions is None else ", ".join(region_name(r) for r in regions)
    return where + ("" if threats is None else f" ({', '.join(threats)})")


def _state(data: dict[str, Any]) -> str:
    colour = {"active": "green", "suspended": "yellow", "disabled": "red"}[data["state"]]
    return f"[{colour}]{data['state']}[/]"


@app.command()
def add(
    target: str = typer.Argument(..., metavar="URL", help="http(s) URL the events go to"),
    region: list[str] = typer.Option(
        [], "--region", "-r", help="only events of this region, above or below it; repeatable"
    ),
    threat: list[str] = typer.Option([], "--threat", help="only this threat type; repeatable"),
    description: str = typer.Option("", help="what it is for, for whoever reads the list"),
    url: str = UrlOption,
    token: str | None = AdminToken,
) -> None:
    """Subscribe a URL. Its signing secret is printed once, alone on the last line."""
    body: dict[str, Any] = {"url": target, "description": description}
    if region:
        body["regions"] = region_ids(region)
    if threat:
        body["threats"] = _threats(threat)
    data = Api(url, token).request("POST", "/api/v1/webhooks", json=body)
    console.print(f"webhook {data['id']} → {data['url']}: {_where(data)}", highlight=False)
    console.print("its signing secret, shown only this once:", style="yellow")
    print(data["secret"], flush=True)


@app.command("list")
def list_webhooks(url: str = UrlOption, token: str | None = AdminToken) -> None:
    """Every subscription, its state and how many events wait for it."""
    data = Api(url, token).request("GET", "/api/v1/webhooks")
    table = Table("id", "url", "events", "state", "delivered to", "waiting", "last error")
    for hook in data["webhooks"]:
        waiting = f"{hook['waiting']}{'+' if hook['waiting_capped'] else ''}"
        table.add_row(
            hook["id"],
            hook["url"],
            _where(hook),
            _state(hook),
            str(hook["last_delivered_seq"] or "—"),
            waiting,
            hook["last_error"] or "",
        )
    console.print(table)


@app.command()
def show(
    webhook_id: str = typer.Argument(..., metavar="ID"),
    url: str = UrlOption,
    token: str | None = AdminToken,
) -> None:
    """One subscription and its newest attempts."""
    hook = Api(url, token).request("GET", f"/api/v1/webhooks/{webhook_id}")
    waiting = f"{hook['waiting']}{' or more' if hook['waiting_capped'] else ''}"
    lines = [
        f"id           {hook['id']}",
        f"url          {hook['url']}",
        f"events       {_where(hook)}",
        f"state        {_state(hook)}",
        f"description  {hook['description'] or '—'}",
        f"cursor       {hook['cursor']} (every event up to it is done with)",
        f"delivered    {hook['last_delivered_seq'] or '—'} at {hook['last_delivered_at'] or '—'}",
        f"waiting      {waiting}",
        f"last error   {hook['last_error'] or '—'} at {hook['last_error_at'] or '—'}",
    ]
    if hook["replay_from"] is not None:
        lines.append(f"replay       from seq {hook['replay_from']}, about to start")
    console.print("\n".join(lines), highlight=False)
    table = Table("seq", "at", "status", "ms", "error", title="newest attempts")
    for a in hook["attempts"]:
        table.add_row(
            str(a["seq"]), a["at"], str(a["status"] or "—"), str(a["duration_ms"]), a["error"] or ""
        )
    console.print(table)


@app.command()
def remove(
    webhook_id: str = typer.Argument(..., metavar="ID"),
    url: str = UrlOption,
    token: str | None = AdminToken,
) -> None:
    """Remove a subscription: nothing more is sent to it."""
    Api(url, token).request("DELETE", f"/api/v1/webhooks/{webhook_id}")
    console.print(f"webhook {webhook_id} removed")


@app.command()
def resume(
    webhook_id: str = typer.Argument(..., metavar="ID"),
    url: str = UrlOption,
    token: str | None = AdminToken,
) -> None:
    """Make a suspended or disabled subscription active again, from where it stopped."""
    hook = Api(url, token).request("POST", f"/api/v1/webhooks/{webhook_id}/resume")
    console.print(f"webhook {hook['id']} is {hook['state']}, going on after seq {hook['cursor']}")


@app.command()
def replay(
    webhook_id: str = typer.Argument(..., metavar="ID"),
    from_seq: int = typer.Option(..., "--from-seq", min=1, help="the first seq to send again"),
    url: str = UrlOption,
    token: str | None = AdminToken,
) -> None:
    """Send every event from --from-seq on again, with the same webhook-id as before."""
    hook = Api(url, token).request(
        "POST", f"/api/v1/webhooks/{webhook_id}/replay", params={"from_seq": from_seq}
    )
    console.print(f"webhook {hook['id']}: sending again from seq {from_seq} ({hook['state']})")
