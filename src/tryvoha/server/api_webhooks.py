"""Webhook subscriptions over HTTP, for admin tokens: make, list, show, remove, resume and
replay (docs/webhooks.md). The secret is in the answer that makes a subscription, and in
no other."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import Field, StringConstraints
from starlette.responses import Response

from tryvoha.channels.webhooks.admin import ReplayRangeError, WebhookAdmin
from tryvoha.channels.webhooks.targets import TargetError
from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.errors import DomainError
from tryvoha.domain.scope import Principal, Role
from tryvoha.protocol.webhooks import webhook_to_json
from tryvoha.server.api_v1 import json_response, services
from tryvoha.server.bodies import strict_json
from tryvoha.server.models import RegionIdText, Strict
from tryvoha.server.problems import Problem, from_domain
from tryvoha.store.webhooks import TooManyWebhooksError

router = APIRouter(
    prefix="/api/v1/webhooks", tags=["webhooks"], dependencies=[Depends(strict_json)]
)

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Authorization = Annotated[str | None, Header()]


class WebhookIn(Strict):
    """A subscription: where to POST, and which events (null: every one)."""

    url: Url = Field(description="http:// or https:// URL the events are POSTed to")
    regions: list[RegionIdText] | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="region ids: events on these regions, those they lie in and those below them; null for every region",
    )
    threats: list[ThreatType] | None = Field(
        None, min_length=1, description="threat types (air_raid, ...); null for every one"
    )
    description: Description = ""


async def _admin(request: Request, authorization: str | None) -> tuple[WebhookAdmin, Principal]:
    svc = services(request)
    principal = await svc.authenticate(authorization)
    if principal.role is not Role.ADMIN:
        raise Problem("forbidden", f"token '{principal.name}' is not an admin token")
    return svc.webhook_admin, principal


def _unknown(webhook_id: str) -> Problem:
    return Problem("unknown_webhook", f"no webhook has the id '{webhook_id}'")


@router.post("", status_code=201, summary="Subscribe a URL; the answer has its secret, once")
async def create(
    request: Request, body: WebhookIn, authorization: Authorization = None
) -> Response:
    admin, principal = await _admin(request, authorization)
    try:
        record = await admin.create(
            body.url, body.regions, body.threats, body.description, principal.name
        )
    except TargetError as e:
        code = "unsafe_webhook_url" if e.unsafe else "invalid_webhook_url"
        raise Problem(code, f"url: {e.detail}") from None
    except DomainError as e:
        raise from_domain(e) from None
    except TooManyWebhooksError as e:
        raise Problem("too_many_webhooks", e.detail) from None
    data = {**webhook_to_json(record), "secret": record.secret}
    return json_response(data, 201, headers={"Location": f"/api/v1/webhooks/{record.id}"})


@router.get("", summary="Every subscription, with its state and how many events wait")
async def listing(request: Request, authorization: Authorization = None) -> Response:
    admin, _ = await _admin(request, authorization)
    found = await admin.listing()
    return json_response(
        {"webhooks": [webhook_to_json(r, w.count, w.capped) for r, w in found]},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/{webhook_id}", summary="One subscription, with its newest attempts")
async def show(request: Request, webhook_id: str, authorization: Authorization = None) -> Response:
    admin, _ = await _admin(request, authorization)
    found = await admin.show(webhook_id)
    if found is None:
        raise _unknown(webhook_id)
    record, waiting, attempts = found
    return json_response(
        webhook_to_json(record, waiting.count, waiting.capped, attempts),
        headers={"Cache-Control": "no-store"},
    )


@router.delete("/{webhook_id}", status_code=204, summary="Remove a subscription")
async def remove(
    request: Request, webhook_id: str, authorization: Authorization = None
) -> Response:
    admin, principal = await _admin(request, authorization)
    if not await admin.remove(webhook_id, principal.name):
        raise _unknown(webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/resume", summary="Make it active again, from where it stopped")
async def resume(
    request: Request, webhook_id: str, authorization: Authorization = None
) -> Response:
    admin, principal = await _admin(request, authorization)
    record = await admin.resume(webhook_id, principal.name)
    if record is None:
        raise _unknown(webhook_id)
    return json_response(webhook_to_json(record))


@router.post(
    "/{webhook_id}/replay", status_code=202, summary="Send every event again from from_seq on"
)
async def replay(
    request: Request,
    webhook_id: str,
    from_seq: Annotated[int, Query(ge=1, description="the first seq to send again")],
    authorization: Authorization = None,
) -> Response:
    admin, principal = await _admin(request, authorization)
    try:
        record = await admin.replay(webhook_id, from_seq, principal.name)
    except ReplayRangeError as e:
        raise Problem("invalid_parameter", str(e)) from None
    if record is None:
        raise _unknown(webhook_id)
    return json_response(webhook_to_json(record), 202)
