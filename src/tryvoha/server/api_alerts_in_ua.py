"""A drop-in alerts.in.ua API: /v1/alerts/active.json, a region's history, and the IoT
strings in their v1 (A/P/N) and v2 (R/Y/P/N) forms.

Thin: the key check is compat_gate's, the answers are compat_views' (built once per
seq) and the wire form is protocol/compat_alerts_in_ua's. Nothing here writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from tryvoha.domain.alerts import Alert
from tryvoha.protocol import compat_alerts_in_ua as aiu
from tryvoha.server.compat_gate import Api, Bucket, Refusal, alerts_in_ua_key
from tryvoha.server.compat_http import admit, refusal_response, services, stamped_response
from tryvoha.server.compat_views import stamped
from tryvoha.server.routes import aiu_place
from tryvoha.store.base import HistoryQuery

router = APIRouter(tags=["alerts.in.ua-compatible"])

HISTORY_PAGE = 1000
HISTORY_MAX = 10_000  # alerts in one history answer
Authorization = Annotated[str | None, Header()]
Token = Annotated[str | None, Query(description="the API key, when not sent as a header")]


@router.get(
    "/v1/regions/{uid}/alerts/{period}.json",
    summary="alerts.in.ua: a region's alerts of the last week (week_ago) or month (month_ago)",
)
async def region_history(
    request: Request,
    uid: str,
    period: str,
    authorization: Authorization = None,
    token: Token = None,
) -> Response:
    key = alerts_in_ua_key(authorization, token)
    refused = await admit(request, Api.ALERTS_IN_UA, Bucket.ALERTS_IN_UA_HISTORY, key)
    if refused is not None:
        return refused
    svc = services(request)
    try:
        loc = aiu_place(svc, uid)
        now = datetime.now(UTC)
        since = aiu.region_history_since(period, now)
        if since is None:
            shown = ", ".join(aiu.PERIODS)
            raise Refusal(400, "invalid_parameter", f"period '{period}' is not one of {shown}")
    except Refusal as refusal:
        return refusal_response(request, Api.ALERTS_IN_UA, refusal)
    regions = svc.compat.history_regions(loc)
    changed_at = svc.compat.changed_at
    alerts: list[Alert] = []
    cursor = None
    while regions and len(alerts) < HISTORY_MAX:
        page = await svc.store.alert_history(
            HistoryQuery(regions=regions, since=since, cursor=cursor, limit=HISTORY_PAGE)
        )
        alerts.extend(page.alerts)
        cursor = page.next_cursor
        if cursor is None:
            break
    body = aiu.alerts_body(alerts[:HISTORY_MAX], svc.compat.places, changed_at)
    etag = f'"h{svc.store.epoch}.{svc.engine.seq}.{loc.uid}.{period}"'
    return stamped_response(request, stamped(svc.engine.seq, body, etag, changed_at))
