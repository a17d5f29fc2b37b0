"""CAP 1.2 over HTTP: one message per alert event, the newest message of an alert, and
an Atom feed of the current messages (docs/cap.md)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.responses import Response

from tryvoha.engine.clock import system_clock
from tryvoha.server.cap_views import CapViews, Document
from tryvoha.server.problems import Problem

router = APIRouter(prefix="/cap", tags=["CAP 1.2"])

_SEQ = re.compile(r"[1-9][0-9]{0,17}")
_ALERT_ID = re.compile(r"[\w.:-]{1,100}")


def cap_views(request: Request) -> CapViews:
    views: CapViews = request.app.state.services.cap
    return views


def document_response(document: Document, if_none_match: str | None) -> Response:
    headers = {"ETag": document.etag, "Cache-Control": document.cache_control}
    if if_none_match is not None and document.etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(document.body, headers=headers, media_type=document.content_type)


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


@router.get(
    "/feed.atom",
    summary="Atom feed: the newest CAP message of every active alert and of those ended lately",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}}},
)
async def feed(request: Request, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return document_response(cap_views(request).feed_document(system_clock()), if_none_match)
