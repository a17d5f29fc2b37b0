"""HTTP answers of the compatible APIs' routes that are not polled (a region's history):
the key check and the original's error forms, as the polled routes get them through
`server/polls.py`.

Every 200 carries Last-Modified (alerts.in.ua's clients need it: they send it back as
If-Modified-Since) and an ETag; either validator that matches gives a 304.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from tryvoha.server.answers import Cached
from tryvoha.server.compat_gate import Api, Bucket, Refusal
from tryvoha.server.hot_app import to_response
from tryvoha.server.polls import answer, refusal_answer
from tryvoha.server.services import Services


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def stamped_response(request: Request, cached: Cached) -> Response:
    return to_response(
        answer(
            cached, request.headers.get("if-none-match"), request.headers.get("if-modified-since")
        )
    )


def refusal_response(request: Request, api: Api, refusal: Refusal) -> Response:
    return to_response(refusal_answer(api, refusal, request.url.path))


async def admit(request: Request, api: Api, bucket: Bucket, key: str | None) -> Response | None:
    """None when the request may go on; else the refusal to send."""
    try:
        await services(request).gate.admit(bucket, key)
    except Refusal as refusal:
        return refusal_response(request, api, refusal)
    return None
