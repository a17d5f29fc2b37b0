"""HTTP answers of the compatible APIs, shared by their routers (and by the front's route
table when it serves them): a cached value or a refusal, with the original's headers.

Every 200 carries Last-Modified (alerts.in.ua's clients need it: they send it back as
If-Modified-Since) and an ETag; either validator that matches gives a 304.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from starlette.responses import Response

from tryvoha.protocol.compat_alerts_in_ua import last_modified, not_modified
from tryvoha.server.compat_gate import Api, Bucket, Refusal
from tryvoha.server.compat_views import Stamped
from tryvoha.server.services import Services

JSON_TYPE = "application/json"
CACHE_CONTROL = "private, no-cache"  # answers are per key; a poller asks again each time


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def answer(
    stamped: Stamped, if_modified_since: str | None, if_none_match: str | None, now: datetime
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a GET of a cached value."""
    headers = {
        "Last-Modified": last_modified(stamped.changed_at, now),
        "ETag": stamped.etag,
        "Cache-Control": CACHE_CONTROL,
    }
    if if_none_match is not None:
        fresh = stamped.etag in (t.strip() for t in if_none_match.split(","))
    else:
        fresh = not_modified(if_modified_since, stamped.changed_at)
    if fresh:
        return 304, headers, b""
    return 200, headers, stamped.body


def stamped_response(request: Request, stamped: Stamped) -> Response:
    status, headers, body = answer(
        stamped,
        request.headers.get("if-modified-since"),
        request.headers.get("if-none-match"),
        datetime.now(UTC),
    )
    if status == 304:
        return Response(status_code=304, headers=headers)
    return Response(body, status, headers=headers, media_type=JSON_TYPE)


def refusal_response(request: Request, api: Api, refusal: Refusal) -> Response:
    body, media_type = refusal.render(api, request.url.path)
    headers = dict(refusal.headers)
    if refusal.status == 401:
        headers["WWW-Authenticate"] = "Bearer" if api is Api.ALERTS_IN_UA else "Token"
    return Response(body, refusal.status, headers=headers, media_type=media_type)


async def admit(request: Request, api: Api, bucket: Bucket, key: str | None) -> Response | None:
    """None when the request may go on; else the refusal to send."""
    try:
        await services(request).gate.admit(bucket, key)
    except Refusal as refusal:
        return refusal_response(request, api, refusal)
    return None
