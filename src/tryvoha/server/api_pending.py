"""Held declares (the two-person rule, server/pending.py) over HTTP: list them, confirm
one (another admin token), cancel one (the one that asked, or an admin)."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from tryvoha.server import pending
from tryvoha.server.services import Services

router = APIRouter(prefix="/api/v1/pending", tags=["two-person rule"])
JSON = "application/json"


def _services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def _on_writer(svc: Services, request: Request) -> Response | None:
    """On an edge, a confirm or cancel is a writer's to make (a confirm writes the log):
    the request goes to it as it came and its answer comes back unchanged."""
    return None if svc.forwarder is None else await svc.forwarder.carry(request)


@router.get("", summary="Held declares, newest first (any token)")
async def list_held(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    svc = _services(request)
    await svc.authenticate(authorization, fresh=True)
    now = svc.engine.clock()
    held = [pending.pending_json(p, now) for p in await svc.store.list_pending(limit)]
    return Response(orjson.dumps({"pending": held}), media_type=JSON)


@router.post("/{pending_id}/confirm", summary="Confirm a held declare (another admin token)")
async def confirm(
    request: Request, pending_id: str, authorization: Annotated[str | None, Header()] = None
) -> Response:
    svc = _services(request)
    if (forwarded := await _on_writer(svc, request)) is not None:
        return forwarded
    confirmer = await svc.authenticate(authorization, fresh=True)
    result = await pending.confirm(svc, pending_id, confirmer)
    return Response(result.body, result.status, media_type=JSON)


@router.post("/{pending_id}/cancel", summary="Cancel a held declare")
async def cancel(
    request: Request, pending_id: str, authorization: Annotated[str | None, Header()] = None
) -> Response:
    svc = _services(request)
    if (forwarded := await _on_writer(svc, request)) is not None:
        return forwarded
    who = await svc.authenticate(authorization, fresh=True)
    ended = await pending.cancel(svc, pending_id, who)
    body = orjson.dumps({"pending": pending.pending_json(ended, svc.engine.clock())})
    return Response(body, media_type=JSON)
