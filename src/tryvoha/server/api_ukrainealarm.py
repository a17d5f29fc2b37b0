"""A drop-in ukrainealarm API (v3): the regions tree, the regions with alerts, one
region's alerts, its recent history, and the last action index (our seq).

The key is the whole `Authorization` header, as ukrainealarm takes it. Thin: the key
check is compat_gate's, the answers compat_views' and protocol/compat_ukrainealarm's.
Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from tryvoha.protocol import compat_ukrainealarm as ua
from tryvoha.protocol.compat_locations import Location
from tryvoha.server.compat_gate import Api, Bucket, Refusal, ukrainealarm_key
from tryvoha.server.compat_http import admit, refusal_response, services, stamped_response
from tryvoha.server.compat_views import Stamped
from tryvoha.store.base import HistoryQuery

router = APIRouter(prefix="/api/v3", tags=["ukrainealarm-compatible"])
Authorization = Annotated[str | None, Header()]


def _location(request: Request, region_id: str | None) -> Location:
    if not region_id:
        raise Refusal(
            400, "invalid_parameter", "regionId: give a region's id, as /api/v3/regions lists"
        )
    loc = services(request).compat.locations.parse(region_id)
    if loc is None or not loc.in_ukrainealarm:
        raise Refusal(
            404, "unknown_region", f"no region has the id '{region_id}' (see /api/v3/regions)"
        )
    return loc


async def _serve(
    request: Request, authorization: str | None, view: Callable[[], Stamped]
) -> Response:
    refused = await admit(
        request, Api.UKRAINEALARM, Bucket.UKRAINEALARM, ukrainealarm_key(authorization)
    )
    if refused is not None:
        return refused
    try:
        stamped = view()
    except Refusal as refusal:
        return refusal_response(request, Api.UKRAINEALARM, refusal)
    return stamped_response(request, stamped)


@router.get("/alerts", summary="ukrainealarm: the regions with an alert of their own")
async def alerts(request: Request, authorization: Authorization = None) -> Response:
    return await _serve(request, authorization, services(request).compat.ua_alerts)


@router.get("/alerts/status", summary="ukrainealarm: the last action index (our seq)")
async def status(request: Request, authorization: Authorization = None) -> Response:
    return await _serve(request, authorization, services(request).compat.ua_status)


@router.get("/alerts/regionHistory", summary="ukrainealarm: a region's last 25 alerts")
async def region_history(
    request: Request,
    authorization: Authorization = None,
    region_id: Annotated[str | None, Query(alias="regionId")] = None,
) -> Response:
    refused = await admit(
        request, Api.UKRAINEALARM, Bucket.UKRAINEALARM, ukrainealarm_key(authorization)
    )
    if refused is not None:
        return refused
    svc = services(request)
    try:
        loc = _location(request, region_id)
    except Refusal as refusal:
        return refusal_response(request, Api.UKRAINEALARM, refusal)
    regions = svc.compat.history_regions(loc)
    found = []
    if regions:
        query = HistoryQuery(regions=regions, limit=ua.HISTORY_LENGTH)
        found = (await svc.store.alert_history(query)).alerts
    body = ua.history_body(svc.compat.index, loc, found, datetime.now(UTC))
    seq = svc.engine.seq
    changed_at = svc.compat.changed_at
    return stamped_response(
        request, Stamped(seq, body, f'"uh{svc.store.epoch}.{seq}.{loc.uid}"', changed_at)
    )


@router.get("/alerts/{region_id}", summary="ukrainealarm: what holds in one region")
async def region(request: Request, region_id: str, authorization: Authorization = None) -> Response:
    views = services(request).compat
    return await _serve(
        request, authorization, lambda: views.ua_region(_location(request, region_id))
    )


@router.get("/regions", summary="ukrainealarm: every state, district and community with its id")
async def regions(request: Request, authorization: Authorization = None) -> Response:
    views = services(request).compat
    return await _serve(request, authorization, lambda: views.ua_regions)
