"""API v1: regions, alerts, state, history, and the writes issuers make."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.errors import DomainError
from tryvoha.domain.scope import Role
from tryvoha.protocol.wire import alert_to_json, format_time, parse_time
from tryvoha.server.problems import CATALOGUE, Problem, from_domain, region_in_path
from tryvoha.server.services import Services
from tryvoha.store.base import AuditEntry, AuditQuery, HistoryQuery

router = APIRouter(prefix="/api/v1")

JSON_TYPE = "application/json"


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def json_response(
    data: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(data), status, headers=headers, media_type=JSON_TYPE)


def _time_param(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise Problem(
            "invalid_parameter",
            f"{name}: '{value}' is not an RFC 3339 time like 2024-11-13T05:00:00Z",
        ) from None


# -- reads ------------------------------------------------------------------------


@router.get("/regions/{region_id}", summary="One region with its effective state and active alerts")
async def get_region(request: Request, region_id: str) -> Response:
    svc = services(request)
    rid = region_in_path(svc.tree, region_id)
    region = svc.tree.get(rid)
    active = [a for a in svc.engine.projection.active() if svc.tree.related(a.region_id, rid)]
    return json_response(
        {
            "id": region.id,
            "level": region.level.value,
            "parent_id": region.parent_id,
            "name_uk": region.name_uk,
            "name_en": region.name_en,
            "seq": svc.engine.seq,
            "state": svc.views.region_state(rid),
            "active_alerts": [alert_to_json(a) for a in active],
        }
    )


@router.get("/alerts/{alert_id}", summary="One alert, active or ended")
async def get_alert(request: Request, alert_id: str) -> Response:
    svc = services(request)
    alert = svc.engine.projection.get(alert_id) or await svc.store.get_alert(alert_id)
    if alert is None:
        raise Problem("unknown_alert", f"no alert has the id '{alert_id}'")
    return json_response(alert_to_json(alert))


@router.get("/alerts", summary="Alert history, newest first, paged with next_cursor")
async def history(
    request: Request,
    region: Annotated[
        str | None, Query(description="alerts on this region, above it or below it")
    ] = None,
    threat: ThreatType | None = None,
    since: Annotated[
        str | None, Query(description="RFC 3339; alerts still active at or after")
    ] = None,
    until: Annotated[str | None, Query(description="RFC 3339; alerts started before")] = None,
    issuer: Annotated[
        str | None, Query(max_length=200, description="only alerts this issuer declared")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    svc = services(request)
    regions = None
    if region is not None:
        try:
            rid = svc.tree.get(region).id
        except DomainError as e:
            raise from_domain(e) from None
        regions = svc.tree.lineage(rid)
    if cursor is not None and not re.fullmatch(r"\d{1,15}_[\w.:-]{1,80}", cursor):
        raise Problem(
            "invalid_parameter", "cursor: not a cursor this API gave out (use next_cursor as it is)"
        )
    query = HistoryQuery(
        regions=regions,
        threat=threat,
        since=_time_param("since", since),
        until=_time_param("until", until),
        issuer=issuer,
        cursor=cursor,
        limit=limit,
    )
    page = await svc.store.alert_history(query)
    return json_response(
        {"alerts": [alert_to_json(a) for a in page.alerts], "next_cursor": page.next_cursor}
    )


@router.get("/health", summary="Is this process serving, and how far has it read the log")
async def health(request: Request) -> Response:
    svc = services(request)
    bus = svc.bus.state()
    return json_response(
        {
            "status": "ok",
            "role": svc.settings.role.value,
            "seq": svc.engine.seq,
            "active_alerts": len(svc.engine.projection),
            "subscribers": len(svc.fanout),
            "dropped_slow_subscribers": svc.fanout.dropped_slow,
            "refused": dict(sorted(svc.refusals.total.items())),
            "bus": {
                "kind": bus.kind,
                "connected": bus.connected,
                "heard_seq": bus.heard,
                "lag_events": max(0, bus.heard - svc.engine.seq),
                "published_seq": bus.published,
                "unpublished_events": bus.unpublished,
            },
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/problems", summary="Every problem code this API answers with")
async def problems() -> Response:
    return json_response(
        {"problems": [{"code": c, "status": s, "title": t} for c, (s, t) in CATALOGUE.items()]}
    )


@router.get("/me", summary="The token's name, role and scope")
async def me(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
    svc = services(request)
    principal = await svc.authenticate(authorization, fresh=True)  # a revoked token: 401 now
    return json_response(
        {"name": principal.name, "role": principal.role.value, "scope": list(principal.scope)}
    )


@router.get("/me/events", summary="The newest events written with this token, newest first")
async def my_events(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    svc = services(request)
    principal = await svc.authenticate(authorization, fresh=True)
    raws = await svc.store.events_by_issuer(principal.name, limit)
    return Response(b'{"events":[' + b",".join(raws) + b"]}", media_type=JSON_TYPE)


@router.get("/audit", summary="The audit log (admin tokens): token changes, writes, refusals")
async def audit(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    token: Annotated[
        str | None, Query(max_length=200, description="only what this token (by name) did")
    ] = None,
    since: Annotated[str | None, Query(description="RFC 3339; entries at or after")] = None,
    until: Annotated[str | None, Query(description="RFC 3339; entries before")] = None,
    denied: Annotated[bool, Query(description="only refusals")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    svc = services(request)
    principal = await svc.authenticate(authorization, fresh=True)
    if principal.role is not Role.ADMIN:
        raise Problem("forbidden", f"token '{principal.name}' is not an admin token")
    query = AuditQuery(
        token, _time_param("since", since), _time_param("until", until), denied, limit
    )
    entries = await svc.store.read_audit(query)
    return json_response({"entries": [audit_json(e) for e in entries]})


def audit_json(entry: AuditEntry) -> dict[str, str]:
    return {
        "at": format_time(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "outcome": entry.outcome,
        "detail": entry.detail,
    }
