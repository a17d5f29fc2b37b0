"""A false alarm takes two people (the 2018 Hawaii missile alert was one click by one
operator). With `--confirm-over N`, a declare that touches more than N oblast-level
regions is held: nothing of it is in the log, so nothing reaches anyone, until a second
admin token — not the one that asked — confirms it within `--confirm-within`; or it is
cancelled, or it expires. Every step is in the audit log.

A confirmed declare is carried out as the token that asked (its scope, its name on the
alerts), under an idempotency key of its own, so two confirmations racing, or one
retried after a crash, make one set of alerts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from tryvoha.domain.commands import Declare, decide, oblasts_of
from tryvoha.domain.scope import Principal, Role, check_may_write, check_scope
from tryvoha.engine.engine import WriteResult
from tryvoha.protocol.wire import format_time
from tryvoha.server.models import DeclareIn
from tryvoha.server.problems import Problem, body_problem
from tryvoha.server.services import Services
from tryvoha.store.base import AuditEntry, PendingDeclare

log = logging.getLogger(__name__)

SWEEP_SECONDS = 15.0


def status_of(pending: PendingDeclare, now: datetime) -> str:
    if pending.outcome is not None:
        return pending.outcome
    return "expired" if pending.expires_at <= now else "pending"


def pending_json(pending: PendingDeclare, now: datetime) -> dict[str, Any]:
    asked = orjson.loads(pending.body)
    return {
        "id": pending.id,
        "status": status_of(pending, now),
        "requester": pending.requester,
        "regions": asked.get("regions", []),
        "oblasts": pending.oblasts,
        "threat": asked.get("threat", "air_raid"),
        "level": asked.get("level", "red"),
        "threats": asked.get("threats", []),
        "message": asked.get("message"),
        "created_at": format_time(pending.created_at),
        "expires_at": format_time(pending.expires_at),
        "decided_by": pending.decided_by,
        "decided_at": None if pending.decided_at is None else format_time(pending.decided_at),
        "seq": pending.seq,
    }


async def hold(
    svc: Services,
    principal: Principal,
    command: Declare,
    body: bytes,
    idempotency_key: str | None,
) -> WriteResult | None:
    """A declare large enough to wait for a second person: held, and answered 202 with
    the pending declare; None when it may go ahead now."""
    over = svc.settings.confirm_over
    if over <= 0:
        return None
    oblasts = oblasts_of(svc.tree, command.regions)
    if len(oblasts) <= over:
        return None
    check_may_write(principal)  # refused now, as the declare itself would be
    check_scope(svc.tree, principal, command.regions)
    now = svc.engine.clock()
    if idempotency_key is not None:  # a retry finds the same held declare
        digest = hashlib.sha256(f"{principal.name}\n{idempotency_key}".encode()).hexdigest()
        pending_id = f"p{digest[:24]}"
        found = await svc.store.get_pending(pending_id)
        if found is not None:
            if found.body != body:
                raise Problem(
                    "idempotency_key_reused",
                    f"Idempotency-Key '{idempotency_key}' was first used for a different request",
                )
            return _held(svc, found, now, replayed=True)
    else:
        pending_id = f"p{secrets.token_hex(12)}"
    # refused now what would be refused when confirmed (a region one cannot declare):
    # decided on today's state and thrown away, so nothing is held that cannot be carried out
    decide(
        command,
        svc.engine.projection,
        svc.tree,
        now=now,
        issuer=principal.name,
        new_id=svc.engine.new_id,
    )
    pending = PendingDeclare(
        pending_id,
        principal.name,
        body,
        len(oblasts),
        now,
        now + timedelta(seconds=svc.settings.confirm_within_seconds),
    )
    detail = (
        f"{pending_id}: {len(oblasts)} oblast-level regions, over {over}: waits for a second"
        f" admin until {format_time(pending.expires_at)}"
    )
    await svc.store.add_pending(
        pending, AuditEntry(now, principal.name, "declare.hold", "ok", detail)
    )
    return _held(svc, pending, now)


def _held(
    svc: Services, pending: PendingDeclare, now: datetime, replayed: bool = False
) -> WriteResult:
    body = orjson.dumps(
        {"seq": svc.engine.seq, "alerts": [], "pending": pending_json(pending, now)}
    )
    return WriteResult(202, body, svc.engine.seq, replayed=replayed)


async def _requester(svc: Services, name: str) -> Principal:
    for record in await svc.store.list_tokens():
        if record.name == name:
            if not record.usable(svc.engine.clock()):
                raise Problem(
                    "pending_decided",
                    f"the token '{name}' that asked was revoked or expired: ask again",
                    409,
                )
            return Principal(record.name, record.role, record.scope)
    raise Problem("pending_decided", f"the token '{name}' that asked is gone: ask again", 409)


async def _undecided(svc: Services, pending_id: str) -> PendingDeclare:
    pending = await svc.store.get_pending(pending_id)
    if pending is None:
        raise Problem("unknown_pending", f"no held declare has the id '{pending_id[:60]}'")
    now = svc.engine.clock()
    state = status_of(pending, now)
    if state == "expired" and pending.outcome is None:
        await _expire(svc, pending)
    if state != "pending":
        raise Problem(
            "pending_expired" if state == "expired" else "pending_decided",
            f"the held declare {pending_id} is {state}",
        )
    return pending


async def confirm(svc: Services, pending_id: str, confirmer: Principal) -> WriteResult:
    """The second person: an admin token other than the one that asked."""
    if confirmer.role is not Role.ADMIN:
        raise Problem("forbidden", f"token '{confirmer.name}' is not an admin token")
    pending = await _undecided(svc, pending_id)
    if confirmer.name == pending.requester:
        raise Problem(
            "confirm_by_another",
            "a held declare is confirmed by a second person: another admin token",
        )
    requester = await _requester(svc, pending.requester)
    try:
        command = declare_from(pending.body)
    except ValidationError as e:
        raise body_problem(e.errors()) from None
    fingerprint = hashlib.sha256(pending.body).hexdigest()
    result = await svc.engine.execute(
        command, requester, idempotency_key=f"pending:{pending.id}", fingerprint=fingerprint
    )
    detail = f"{pending.id} asked by {pending.requester}: declared, seq {result.seq}"
    await svc.store.decide_pending(
        pending.id,
        "confirmed",
        confirmer.name,
        result.seq,
        AuditEntry(svc.engine.clock(), confirmer.name, "declare.confirm", "ok", detail),
    )
    return result


async def cancel(svc: Services, pending_id: str, who: Principal) -> PendingDeclare:
    """The one that asked, or any admin."""
    pending = await _undecided(svc, pending_id)
    if who.name != pending.requester and who.role is not Role.ADMIN:
        raise Problem("forbidden", f"token '{who.name}' may not cancel another's declare")
    now = svc.engine.clock()
    entry = AuditEntry(now, who.name, "declare.cancel", "ok", f"{pending.id}")
    if not await svc.store.decide_pending(pending.id, "cancelled", who.name, None, entry):
        raise Problem("pending_decided", f"the held declare {pending.id} was decided meanwhile")
    found = await svc.store.get_pending(pending.id)
    assert found is not None
    return found


def declare_from(body: bytes) -> Declare:
    from tryvoha.server.writes import declare_command

    return declare_command(DeclareIn.model_validate_json(body))


async def _expire(svc: Services, pending: PendingDeclare) -> None:
    entry = AuditEntry(
        svc.engine.clock(), "tryvoha", "declare.expire", "ok", f"{pending.id}: nobody confirmed"
    )
    await svc.store.decide_pending(pending.id, "expired", "tryvoha", None, entry)


async def sweep(svc: Services) -> None:
    """Mark (and audit) held declares whose time ran out, every SWEEP_SECONDS."""
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            now = svc.engine.clock()
            for pending in await svc.store.list_pending(200):
                if pending.outcome is None and pending.expires_at <= now:
                    await _expire(svc, pending)
        except Exception:
            log.exception("could not expire held declares")
