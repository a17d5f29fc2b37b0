"""The writes issuers make, from a request's parts to the engine's answer.

One implementation, reached two ways: the API's routes (any ASGI server, and every
unusual request) and the HTTP front (the common case, without the ASGI stack). Both
build the command with the functions here and carry it out with `carry_out`, so a write,
its fingerprint and its answer are the same whichever way it came. On an edge the
command is still built (bad input is refused where it arrives), then the request goes
to a writer (`server/forward.py`) and its answer comes back unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from tryvoha.config import Rate
from tryvoha.domain.alerts import AlertId, ThreatType
from tryvoha.domain.commands import ClearAlert, ClearRegion, Command, Declare, Update
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.domain.scope import Principal
from tryvoha.engine.auth import AuthError, hash_token
from tryvoha.engine.engine import WriteResult
from tryvoha.server.answers import JSON_TYPE, Answer
from tryvoha.server.models import DeclareIn, UpdateIn, threat_specs
from tryvoha.server.problems import Problem, region_in_path
from tryvoha.server.ratelimit import RateLimiter, retry_after
from tryvoha.server.services import Services
from tryvoha.store.base import AuditEntry

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """What a write takes from its HTTP request (path and query as sent, undecoded)."""

    method: str
    path: str
    query: str
    body: bytes
    authorization: str | None
    idempotency_key: str | None
    content_type: str | None = None

    def fingerprint(self) -> str:
        """What a retry with the same Idempotency-Key must repeat exactly."""
        return hashlib.sha256(
            b"%s %s?%s\n%s"
            % (self.method.encode(), self.path.encode(), self.query.encode(), self.body)
        ).hexdigest()


def declare_command(body: DeclareIn) -> Declare:
    return Declare(
        regions=tuple(RegionId(r) for r in body.regions),
        threat=body.threat,
        level=body.level,
        threats=threat_specs(body.threats),
        message=body.message.domain() if body.message else None,
    )


def update_command(alert_id: str, body: UpdateIn) -> Update:
    fields = body.model_fields_set
    return Update(
        alert_id=AlertId(alert_id),
        level=body.level,
        threats=threat_specs(body.threats) if body.threats is not None else None,
        message=body.message.domain() if body.message else None,
        clear_message="message" in fields and body.message is None,
    )


def clear_alert_command(alert_id: str) -> ClearAlert:
    return ClearAlert(AlertId(alert_id))


def clear_region_command(
    tree: RegionTree, region_id: str, threat: ThreatType | None
) -> ClearRegion:
    return ClearRegion(region_in_path(tree, region_id), threat)


async def perform(svc: Services, command: Command, request: WriteRequest) -> WriteResult:
    """Authenticate, check the key, and carry out the command; raises AuthError, Problem
    or a DomainError for the caller to answer as problem+json."""
    try:
        principal: Principal = await svc.authenticate(request.authorization)
    except AuthError as e:  # an unknown, revoked or expired token tried to write
        await _deny(svc, _claimed(request.authorization), request, e.detail)
        raise
    wait = svc.writes.take(principal.name)
    if wait > 0:
        rate = svc.writes.rate
        detail = f"token '{principal.name}' is over {rate.count} writes per {rate.seconds:g} s"
        await _deny(svc, principal.name, request, detail)
        raise Problem("rate_limited", detail, headers=(("Retry-After", retry_after(wait)),))
    key = request.idempotency_key
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise Problem("invalid_parameter", "Idempotency-Key: 1 to 200 visible ASCII characters")
    if isinstance(command, Declare):  # a large one may wait for a second person
        from tryvoha.server.pending import hold

        held = await hold(svc, principal, command, request.body, key)
        if held is not None:
            return held
    return await svc.engine.execute(
        command, principal, idempotency_key=key, fingerprint=request.fingerprint()
    )


def _claimed(authorization: str | None) -> str:
    """Who a refused write came from, as far as can be told without trusting it: a hash's
    prefix of the secret it sent (never the secret)."""
    token = (authorization or "").partition(" ")[2].strip()
    return f"unknown:{hash_token(token)[:12]}" if token else "anonymous"


# A flood of refused writes must not become a flood of audit writes (each one a commit on
# the log's store): at most this many an actor, and this many in all, a minute; the rest
# are counted among the front's refusals (a log line every 10 s).
_DENIALS_EACH = RateLimiter(Rate(10, 60.0), 10_000)
_DENIALS_ALL = RateLimiter(Rate(120, 60.0), 1)


async def _deny(svc: Services, actor: str, request: WriteRequest, detail: str) -> None:
    if _DENIALS_EACH.take(actor) > 0 or _DENIALS_ALL.take("all") > 0:
        svc.refusals.note("denied_unaudited")
        return
    entry = AuditEntry(
        datetime.now(UTC), actor, f"{request.method} {request.path}", "denied", detail
    )
    try:
        await svc.store.audit([entry])
    except Exception:  # the refusal stands even when the audit cannot be written
        log.exception("could not audit a refused write")


def answer_headers(result: WriteResult) -> dict[str, str] | None:
    return {"Idempotent-Replayed": "true"} if result.replayed else None


async def carry_out(svc: Services, command: Command, request: WriteRequest) -> Answer:
    """The answer to a write: made here, or (on an edge) by a writer. Raises as `perform`
    does; a writer's answer, refusals included, is returned as it came."""
    if svc.forwarder is not None:
        target = request.path + (f"?{request.query}" if request.query else "")
        headers = [
            ("authorization", request.authorization),
            ("idempotency-key", request.idempotency_key),
            ("content-type", request.content_type),
        ]
        return await svc.forwarder.forward(request.method, target, request.body, headers)
    result = await perform(svc, command, request)
    headers_out = [(b"content-type", JSON_TYPE.encode())]
    if result.replayed:
        headers_out.append((b"idempotent-replayed", b"true"))
    return Answer(result.status, tuple(headers_out), result.body)
