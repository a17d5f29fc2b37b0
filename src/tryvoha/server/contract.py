"""The OpenAPI document as the contract: every answer an operation can give is in it.

FastAPI documents what a handler returns when all goes well. A client generator, and
schemathesis in the tests, also need the refusals: which statuses, in which media type and
shape (RFC 9457 problem details here; alerts.in.ua's `{"message", "code"}` on its drop-in
paths), and the headers that matter (ETag and 304 on the cached reads, Retry-After on 429
and 503, Idempotent-Replayed on writes). They follow from what an operation takes, so they
are added here by rule, once, from the problem catalogue (`server/problems.py`), instead of
by hand on each of some fifty routes:

- every operation: 429 (per-client request rate);
- a path parameter: 404 and 422; a query parameter: 422 (on ukrainealarm's paths, 400 and
  404 for a region it does not know, as the original answers);
- a body: 400 (not JSON), 413, 415, 422;
- a token (an Authorization header, a write, a compatible API): 401 and 403;
- a write: 409, and 503 and 504 (an edge whose writer is away);
- a cached read (the hot polls, CAP): ETag on 200, and 304.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

from tryvoha.server.problems import CATALOGUE, PROBLEM_TYPE
from tryvoha.server.routes import TABLE, Poll, Write

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is stable (see /api/v1/problems)",
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": sorted(CATALOGUE)},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
COMPAT_ERROR_SCHEMA: dict[str, Any] = {
    "title": "CompatError",
    "description": "alerts.in.ua's error form, with tryvoha's stable code beside it",
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string"}, "code": {"type": "string"}},
}
HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "the answer's version: send it back as If-None-Match to get 304",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key (nothing was done again)",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
ALERTS_IN_UA_PATHS = re.compile(r"^/v[12]/")  # its drop-in answers its own error form
COMPAT_PATHS = re.compile(r"^/(v1|v2|api/v3)/")  # the drop-in APIs take a key
UKRAINEALARM_PATHS = re.compile(r"^/api/v3/")  # says 400 for a bad query, as the original
CACHED_PATHS = re.compile(r"^/cap/")  # with the hot polls: ETag and 304
WRITES = frozenset({"post", "put", "patch", "delete"})


def install(app: FastAPI) -> None:
    """After every route is added: the document the app serves is the whole contract."""
    built = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(built())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["CompatError"] = COMPAT_ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):  # our 422 is a problem
        schemas.pop(name, None)
    polls = {e.path for e in TABLE if isinstance(e, Poll)}
    writes = {(e.method.lower(), e.path) for e in TABLE if isinstance(e, Write)}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method in {"get", "head", "post", "put", "patch", "delete"}:
                _path_parameters(path, operation)
                cached = method == "get" and (path in polls or bool(CACHED_PATHS.match(path)))
                _complete(path, method, operation, cached, (method, path) in writes)
    return document


def _path_parameters(path: str, operation: dict[str, Any]) -> None:
    """A route served by the front (the hot table) names its path parameters in its path
    only: each is a required string."""
    declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
    for name in re.findall(r"{([^}]+)}", path):
        if name not in declared:
            operation.setdefault("parameters", []).append(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            )


def _complete(
    path: str, method: str, operation: dict[str, Any], cached: bool, hot_write: bool
) -> None:
    parameters = operation.get("parameters", [])
    where = {p.get("in") for p in parameters}
    headers = {p["name"].lower() for p in parameters if p.get("in") == "header"}
    statuses = {429}
    if "path" in where:
        statuses |= {404, 422}
    if "query" in where:
        statuses |= {400, 404} if UKRAINEALARM_PATHS.match(path) else {422}
    if "requestBody" in operation:
        statuses |= {400, 413, 415, 422}
    write = method in WRITES
    if "authorization" in headers or hot_write or COMPAT_PATHS.match(path) or write:
        statuses |= {401, 403}
    if write:
        statuses |= {404, 409, 503, 504}
    refusal = _compat_refusal if ALERTS_IN_UA_PATHS.match(path) else _problem
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in sorted(statuses):
        responses[str(status)] = refusal(status)
    if cached:
        ok = responses.setdefault("200", {"description": "OK"})
        ok.setdefault("headers", {})["ETag"] = HEADERS["ETag"]
        responses["304"] = {
            "description": "Not Modified: the If-None-Match tag is still the current one",
            "headers": {"ETag": HEADERS["ETag"]},
        }
    if write:
        for answered, answer in responses.items():
            if str(answered).startswith("2"):
                answer.setdefault("headers", {})["Idempotent-Replayed"] = HEADERS[
                    "Idempotent-Replayed"
                ]


def _codes(status: int) -> list[str]:
    return sorted(code for code, (s, _) in CATALOGUE.items() if s == status)


def _described(status: int) -> str:
    return "problem codes: " + ", ".join(_codes(status) or ["see /api/v1/problems"])


def _with_retry_after(status: int, answer: dict[str, Any]) -> dict[str, Any]:
    if status in (429, 503):
        answer["headers"] = {"Retry-After": HEADERS["Retry-After"]}
    return answer


def _problem(status: int) -> dict[str, Any]:
    content = {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return _with_retry_after(status, {"description": _described(status), "content": content})


def _compat_refusal(status: int) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/CompatError"}}}
    return _with_retry_after(status, {"description": _described(status), "content": content})
