"""API v1, Web Push: a browser subscribes with its push subscription and the regions it
follows, changes them, or unsubscribes; the server's VAPID public key for
`PushManager.subscribe`. No token: the endpoint, a secret URL only the browser and its
push service know, is the subscription's key. Every refusal is problem+json and changes
nothing. On an edge, a subscription is a writer's to keep: the request goes to a writer
as it came (with the language headers, for a body that names none)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from tryvoha import i18n
from tryvoha.channels.push import PushChannel, subscription_id
from tryvoha.channels.push_lanes import cursor_name
from tryvoha.channels.push_send import check_keys
from tryvoha.channels.targets import MAX_URL_CHARS, UnsafeTargetError, check_target
from tryvoha.domain.errors import DomainError
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionId
from tryvoha.server.api_v1 import json_response, services
from tryvoha.server.bodies import check_json
from tryvoha.server.forward import FORWARDED
from tryvoha.server.models import RegionIdText, Strict
from tryvoha.server.problems import Problem, from_domain
from tryvoha.server.services import Services
from tryvoha.store.base import PushSubscription, StoreFullError


async def strict_json(request: Request) -> None:
    """UTF-8, no key twice: the rule every JSON body of the API keeps (server.bodies)."""
    check_json(await request.body())


router = APIRouter(prefix="/api/v1/push", tags=["web push"], dependencies=[Depends(strict_json)])

KeyText = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\w-]+=*$")]
Endpoint = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_CHARS)]


class KeysIn(Strict):
    p256dh: KeyText
    auth: KeyText


class SubscriptionIn(BaseModel):
    """A browser's PushSubscription, as its toJSON() gives it."""

    model_config = ConfigDict(extra="ignore")
    endpoint: Endpoint
    keys: KeysIn


class SubscribeIn(Strict):
    """Subscribe this browser to notices for these regions, or change its regions (the
    same endpoint again replaces them). `replaces`: the endpoint this browser had before
    its push service gave it a new one; its regions and language carry over when
    `regions` is left out."""

    subscription: SubscriptionIn
    regions: list[RegionIdText] | None = Field(default=None, min_length=1, max_length=500)
    lang: Literal["uk", "en", "fr"] | None = None
    replaces: Endpoint | None = None


class UnsubscribeIn(Strict):
    endpoint: Endpoint


def channel(svc: Services) -> PushChannel:
    if svc.push is None:
        raise Problem("push_off", "Web Push is turned off on this server (--no-web-push)")
    return svc.push


LANGUAGE_HEADERS = (*FORWARDED, "accept-language", "cookie")  # what a subscribe's lang needs


@router.get("/key", summary="The server's VAPID public key, for PushManager.subscribe")
async def push_key(request: Request) -> Response:
    push = channel(services(request))
    return json_response(
        {"public_key": push.keys.public_key}, headers={"Cache-Control": "no-cache"}
    )


@router.post(
    "/subscriptions",
    summary="Subscribe a browser to notices for regions, or change its regions",
    status_code=201,
)
async def subscribe(request: Request, body: SubscribeIn) -> Response:
    svc = services(request)
    channel(svc)
    if svc.forwarder is not None:
        return await svc.forwarder.carry(request, LANGUAGE_HEADERS)
    endpoint = body.subscription.endpoint
    try:
        check_target(endpoint, allow_private=svc.settings.push_allow_private)
    except UnsafeTargetError as e:
        raise Problem("unsafe_endpoint", f"subscription.endpoint: {e}") from None
    try:
        check_keys(body.subscription.keys.p256dh, body.subscription.keys.auth)
    except ValueError as e:
        raise Problem("invalid_subscription", f"subscription.{e}") from None
    old = None
    if body.replaces is not None and body.replaces != endpoint:
        old = await svc.store.push_subscription(subscription_id(body.replaces))
    regions = _regions(svc, body.regions, old)
    lang = body.lang or (old.lang if old else None)
    lang = lang or i18n.negotiate(
        request.headers.get("accept-language"), request.cookies.get(i18n.COOKIE)
    )
    sub_id = subscription_id(endpoint)
    known = await svc.store.push_subscription(sub_id)
    sub = PushSubscription(
        id=sub_id,
        endpoint=endpoint,
        p256dh=body.subscription.keys.p256dh,
        auth=body.subscription.keys.auth,
        regions=regions,
        lang=lang,
        since_seq=Seq(old.since_seq if old else svc.engine.seq),
        created_at=datetime.now(UTC),
    )
    try:
        saved = await svc.store.save_push_subscription(sub, svc.settings.push_max_subscriptions)
    except StoreFullError:
        raise Problem("push_full", "this server takes no more push subscriptions") from None
    if old is not None:
        await forget(svc, old.id)
    return json_response(_shown(saved), 200 if known else 201)


def _regions(
    svc: Services, given: list[str] | None, old: PushSubscription | None
) -> tuple[RegionId, ...]:
    if given is None:
        if old is None:
            raise Problem("invalid_body", "regions: name the regions to follow")
        return old.regions
    found: list[RegionId] = []
    for region_id in given:
        try:
            rid = svc.tree.get(region_id).id
        except DomainError as e:
            raise from_domain(e) from None
        if rid not in found:
            found.append(rid)
    limit = svc.settings.push_max_regions
    if len(found) > limit:
        raise Problem("invalid_body", f"regions: at most {limit} per subscription")
    return tuple(found)


@router.delete("/subscriptions", summary="Unsubscribe a browser: no more notices", status_code=204)
async def unsubscribe(request: Request, body: UnsubscribeIn) -> Response:
    svc = services(request)
    channel(svc)
    if svc.forwarder is not None:
        return await svc.forwarder.carry(request)
    if not await forget(svc, subscription_id(body.endpoint)):
        raise Problem("unknown_subscription", "no push subscription has this endpoint")
    return Response(status_code=204)


async def forget(svc: Services, sub_id: str) -> bool:
    dropped = await svc.store.drop_push_subscription(sub_id)
    await svc.store.drop_cursors([cursor_name(sub_id)])
    return dropped


def _shown(sub: PushSubscription) -> dict[str, object]:
    return {
        "id": sub.id,
        "regions": list(sub.regions),
        "lang": sub.lang,
        "since_seq": sub.since_seq,
    }
