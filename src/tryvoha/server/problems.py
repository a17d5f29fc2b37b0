"""RFC 9457 problem details: every error a client sees, with a stable code, in one place."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from tryvoha.domain.errors import (
    AlertNotActiveError,
    DomainError,
    NothingActiveError,
    OutOfScopeError,
    ReadOnlyTokenError,
    RegionNotDeclarableError,
    UnknownAlertError,
    UnknownRegionError,
)
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.engine.auth import AuthError
from tryvoha.engine.engine import IdempotencyKeyReusedError

PROBLEM_TYPE = "application/problem+json"

# code -> (status, title): the catalogue served at /api/v1/problems
CATALOGUE: dict[str, tuple[int, str]] = {
    "bad_request": (400, "The request is not valid HTTP/1.1"),
    "bad_websocket_handshake": (400, "The WebSocket handshake is not valid"),
    "malformed_json": (400, "The body is not valid JSON"),
    "invalid_parameter": (422, "A query parameter or header is not valid"),
    "invalid_body": (422, "The body does not have the expected fields and types"),
    "unauthorized": (401, "A valid token is needed (for a write, or as an API key)"),
    "out_of_scope": (403, "The token may not act on a region in this request"),
    "forbidden": (403, "The token's role may not do this"),
    "rate_limited": (429, "Too many requests; retry after Retry-After seconds"),
    "too_many_streams": (
        429,
        "Too many streams open from this address; retry after Retry-After seconds",
    ),
    "not_found": (404, "There is nothing at this address"),
    "unknown_region": (422, "No region has this id or name"),
    "outside_country": (404, "The point is outside every region's boundary"),
    "unknown_alert": (404, "No alert has this id"),
    "unknown_event": (404, "No alert event has this seq"),
    "region_not_declarable": (422, "Alerts cannot be declared for this region"),
    "alert_not_active": (409, "The alert was cleared already"),
    "unknown_pending": (404, "No held declare has this id"),
    "pending_decided": (409, "The held declare was confirmed or cancelled already"),
    "pending_expired": (409, "The held declare was not confirmed in time"),
    "confirm_by_another": (403, "A held declare is confirmed by another admin token"),
    "nothing_active": (409, "There is no active alert to clear"),
    "idempotency_key_reused": (422, "The Idempotency-Key was used for a different request"),
    "body_too_large": (413, "The body is larger than this server accepts"),
    "head_too_large": (431, "The request's head is larger than this server accepts"),
    "request_timeout": (408, "The request did not arrive in time"),
    "http_version_not_supported": (505, "This server speaks HTTP/1.1 and HTTP/1.0"),
    "method_not_allowed": (405, "This address does not take this method"),
    "unsupported_media_type": (415, "The body must be application/json"),
    "unknown_webhook": (404, "No webhook subscription has this id"),
    "invalid_webhook_url": (
        422,
        "The URL cannot be a webhook's: http or https, a host, no credentials",
    ),
    "unsafe_webhook_url": (
        422,
        "The URL resolves to a loopback, private, link-local or other non-public address",
    ),
    "too_many_webhooks": (409, "This server holds as many webhook subscriptions as it may"),
    "push_off": (404, "Web Push is turned off on this server"),
    "push_full": (503, "This server takes no more push subscriptions"),
    "unsafe_endpoint": (422, "The push endpoint is not a public https address"),
    "invalid_subscription": (422, "The push subscription's keys are not a browser's"),
    "unknown_subscription": (404, "No push subscription has this endpoint"),
    "internal_error": (500, "The server failed; nothing was written unless a seq was returned"),
    "writer_unavailable": (503, "No writer could be reached; nothing was written"),
    "writer_timeout": (504, "The writer did not answer; retry with the same Idempotency-Key"),
}


class Problem(Exception):
    def __init__(
        self,
        code: str,
        detail: str,
        status: int | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status or CATALOGUE[code][0]
        self.headers = headers  # e.g. Retry-After
        self.extra = extra


def problem_parts(
    problem: Problem, instance: str | None = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of a problem answer: the app and the front send the same."""
    body: dict[str, Any] = {
        "type": f"/api/v1/problems#{problem.code}",
        "title": CATALOGUE.get(problem.code, (problem.status, problem.code))[1],
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code,
    }
    if instance:
        body["instance"] = instance
    body.update(problem.extra)
    headers = [(b"content-type", PROBLEM_TYPE.encode())]
    if problem.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    headers.extend((name.lower().encode(), value.encode()) for name, value in problem.headers)
    return problem.status, headers, orjson.dumps(body)


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    status, headers, body = problem_parts(problem, instance)
    response = Response(body, status, media_type=PROBLEM_TYPE)
    for name, value in headers[1:]:
        response.headers[name.decode()] = value.decode()
    return response


def from_domain(error: DomainError, *, in_path: bool = False) -> Problem:
    if isinstance(error, UnknownRegionError):
        # an id in the URL that names nothing is a 404; in a body or query it is a 422
        return Problem(
            "unknown_region", error.detail, 404 if in_path else 422, region=error.region_id
        )
    if isinstance(error, OutOfScopeError):
        return Problem("out_of_scope", error.detail, regions=error.region_ids)
    if isinstance(error, UnknownAlertError):
        return Problem("unknown_alert", error.detail)
    known = (
        ReadOnlyTokenError,
        AlertNotActiveError,
        NothingActiveError,
        RegionNotDeclarableError,
        IdempotencyKeyReusedError,
    )
    if isinstance(error, known):
        return Problem(error.code, error.detail)
    return Problem("invalid_body", error.detail, 422)


def region_in_path(tree: RegionTree, region_id: str) -> RegionId:
    """The region a URL names; a 404 problem when it names none."""
    try:
        return tree.get(region_id).id
    except DomainError as e:
        raise from_domain(e, in_path=True) from None


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_problem(exc: RequestValidationError) -> Problem:
    errors = list(exc.errors())
    in_body = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in errors)
    return _problem_of(errors, "invalid_body" if in_body else "invalid_parameter")


def body_problem(errors: Sequence[Any]) -> Problem:
    """A body that did not validate (pydantic's errors, locations within the body)."""
    return _problem_of(
        [{**e, "loc": ("body", *tuple(e.get("loc", ())))} for e in errors], "invalid_body"
    )


def _problem_of(errors: Sequence[Any], code: str) -> Problem:
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = str(err.get("ctx", {}).get("error", "")) or "invalid"
            return Problem("malformed_json", f"the body is not valid JSON: {reason}")
    described = [
        {"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "")} for e in errors
    ]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in described[:5])
    return Problem(code, summary, errors=described)


ANSWERED = (Problem, DomainError, AuthError)  # the errors a request is answered with


def as_problem(exc: Problem | DomainError | AuthError) -> Problem:
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, AuthError):
        return Problem("unauthorized", exc.detail)
    return from_domain(exc)


def crash_problem(path: str) -> Problem:
    """Any other error: logged with its traceback; the client hears only this."""
    logging.getLogger("tryvoha.server").exception("unhandled error on %s", path)
    return Problem("internal_error", "the server failed on this request; it was logged")


def install(app: FastAPI) -> None:
    """Map every error to problem+json; no traceback reaches a client."""

    async def _answered(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ANSWERED)
        return problem_response(as_problem(exc), request.url.path)

    for kind in ANSWERED:
        app.add_exception_handler(kind, _answered)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        content_type = request.headers.get("content-type", "")
        about_body = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors())
        if about_body and "json" not in content_type.lower():
            shown = content_type or "none"
            detail = f"send the body as JSON with Content-Type: application/json (got {shown})"
            return problem_response(Problem("unsupported_media_type", detail), request.url.path)
        return problem_response(validation_problem(exc), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {
            400: "malformed_json",  # FastAPI's "error parsing the body" (not JSON, not UTF-8)
            404: "not_found",
            405: "method_not_allowed",
            413: "body_too_large",
        }.get(exc.status_code)
        if code is None:
            return Response(status_code=exc.status_code, headers=exc.headers)
        detail = str(exc.detail) if exc.status_code != 404 else f"nothing at {request.url.path}"
        return problem_response(Problem(code, detail, exc.status_code), request.url.path)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        return problem_response(crash_problem(request.url.path), request.url.path)
