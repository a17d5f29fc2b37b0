"""CAP 1.2 over HTTP: one message per alert event and the newest message of an alert
(docs/cap.md). The Atom feed of the current messages is polled by the thousand: it is an
entry of the hot-route table (`server/routes.py`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.responses import Response

from tryvoha.server.answers import Cached, respond
from tryvoha.server.cap_views import CapViews
from tryvoha.server.problems import Problem

router = APIRouter(prefix="/cap", tags=["CAP 1.2"])

_SEQ = re.compile(r"[1-9][0-9]{0,17}")
_ALERT_ID = re.compile(r"[\w.:-]{1,100}")


def cap_views(request: Request) -> CapViews:
    views: CapViews = request.app.state.services.cap
    return views


def document_response(document: Cached, if_none_match: str | None) -> Response:
    answer = respond(document, if_none_match, None, datetime.now(UTC))
    response = Response(answer.body, answer.status)
    for name, value in answer.headers:
        response.headers[name.decode()] = value.decode()
    return response


@router.get(
    "/messages/{seq}.xml",
    summary="The CAP 1.2 message of one alert event",
    response_class=Response,
    responses={
        200: {"content": {"application/cap+xml": {}}},
        404: {"description": "no alert event has this seq (problem+json)"},
    },
)
async def message(
    request: Request, seq: str, if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    document = await cap_views(request).message(int(seq)) if _SEQ.fullmatch(seq) else None
    if document is None:
        raise Problem("unknown_event", f"no alert event has the seq '{seq[:40]}'")
    return document_response(document, if_none_match)


@router.get(
    "/alerts/{alert_id}.xml",
    summary="The newest CAP 1.2 message of one alert",
    response_class=Response,
    responses={
        200: {"content": {"application/cap+xml": {}}},
        404: {"description": "no alert has this id (problem+json)"},
    },
)
async def alert_message(
    request: Request, alert_id: str, if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    views = cap_views(request)
    document = await views.newest_of(alert_id) if _ALERT_ID.fullmatch(alert_id) else None
    if document is None:
        raise Problem("unknown_alert", f"no alert has the id '{alert_id[:100]}'")
    return document_response(document, if_none_match)
