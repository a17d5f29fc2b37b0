"""A drop-in ukrainealarm API (v3): the regions tree, the regions with alerts, one
region's alerts, its recent history, and the last action index (our seq).

The key is the whole `Authorization` header, as ukrainealarm takes it. Thin: the key
check is compat_gate's, the answers compat_views' and protocol/compat_ukrainealarm's.
Nothing here writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from tryvoha.protocol import compat_ukrainealarm as ua
from tryvoha.protocol.compat_locations import Location
from tryvoha.server.compat_gate import Api, Bucket, Refusal, ukrainealarm_key
from tryvoha.server.compat_http import admit, refusal_response, services, stamped_response
from tryvoha.server.compat_views import stamped
from tryvoha.server.routes import ua_place
from tryvoha.store.base import HistoryQuery

router = APIRouter(prefix="/api/v3", tags=["ukrainealarm-compatible"])
Authorization = Annotated[str | None, Header()]


def _location(request: Request, region_id: str | None) -> Location:
    if not region_id:
        raise Refusal(
            400, "invalid_parameter", "regionId: give a region's id, as /api/v3/regions lists"
        )
    return ua_place(services(request), region_id)


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
        request, stamped(seq, body, f'"uh{svc.store.epoch}.{seq}.{loc.uid}"', changed_at)
    )
