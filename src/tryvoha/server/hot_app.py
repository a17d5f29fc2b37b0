"""The table of hot routes (`server/routes.py`) as routes of the ASGI app.

Every entry becomes a FastAPI route here, with its OpenAPI description, answering with the
same functions the HTTP front uses: a connection served by the app (another ASGI server,
the in-process tests) gets what the front would have sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response, StreamingResponse

from tryvoha.server import polls, streams
from tryvoha.server.answers import Answer
from tryvoha.server.compat_gate import Refusal
from tryvoha.server.problems import Problem
from tryvoha.server.routes import (
    TABLE,
    EventStream,
    Poll,
    WebSocketStream,
    Write,
    query_pairs,
)
from tryvoha.server.services import Services
from tryvoha.server.writes import WriteRequest, carry_out

EVENTS_PARAMETERS = [
    {
        "name": "after",
        "in": "query",
        "required": False,
        "description": "resume after this seq",
        "schema": {"type": "integer", "minimum": 0},
    },
    {
        "name": "region",
        "in": "query",
        "required": False,
        "description": "only events of these regions, above or below them (repeat; capped)",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
    {
        "name": "history",
        "in": "query",
        "required": False,
        "description": "also events imported from the historical record (issuer history:…)",
        "schema": {"type": "boolean", "default": False},
    },
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "the last seq received; wins over ?after",
        "schema": {"type": "string"},
    },
]


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _poll(entry: Poll) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        services = _services(request)
        params = {k: str(v) for k, v in request.path_params.items()}
        try:
            await polls.admit(
                services,
                entry,
                request.headers.get("authorization"),
                query_pairs(request.scope["query_string"]),
            )
            cached = polls.view(services, entry, params)
        except (Refusal, Problem) as error:
            return to_response(polls.refused(entry, error, request.url.path))
        return to_response(
            polls.answer(
                cached,
                request.headers.get("if-none-match"),
                request.headers.get("if-modified-since"),
            )
        )

    return endpoint


def to_response(answer: Answer) -> Response:
    response = Response(answer.body, answer.status)
    for name, value in answer.headers:
        response.headers[name.decode()] = value.decode()
    return response


def _write(entry: Write) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        services = _services(request)
        body = await request.body()
        command = entry.command(
            services.tree,
            request.path_params,
            query_pairs(request.scope["query_string"]),
            body,
            request.headers.get("content-type"),
        )
        answer = await carry_out(
            services,
            command,
            WriteRequest(
                request.method,
                request.scope.get("raw_path", request.url.path.encode()).decode("latin-1"),
                request.scope["query_string"].decode("latin-1"),
                body,
                request.headers.get("authorization"),
                request.headers.get("idempotency-key"),
                request.headers.get("content-type"),
            ),
        )
        return to_response(answer)

    return endpoint


def _write_docs(entry: Write, schemas: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {"parameters": list(entry.query)} if entry.query else {}
    if entry.body is not None:
        schema = entry.body.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[entry.body.__name__] = schema
        ref = {"$ref": f"#/components/schemas/{entry.body.__name__}"}
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
    return extra


def _name(path: str) -> str:
    return "_".join(p.strip("{}") for p in path.split("/") if p) or "root"


def install(app: FastAPI) -> None:
    schemas: dict[str, Any] = {}
    for entry in TABLE:
        if isinstance(entry, Poll):
            app.add_api_route(
                entry.path,
                _poll(entry),
                methods=["GET"],
                summary=entry.summary,
                name=_name(entry.path),
                responses={200: {"content": {entry.media_type: {}}}},
            )
            app.add_api_route(  # HEAD as the front answers it (the GET, without its body)
                entry.path, _poll(entry), methods=["HEAD"], include_in_schema=False
            )
        elif isinstance(entry, EventStream):
            app.add_api_route(
                entry.path,
                streams.events,
                methods=["GET"],
                summary=entry.summary,
                name="events",
                status_code=200,
                openapi_extra={"parameters": EVENTS_PARAMETERS},
                response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {}}}},
            )
        elif isinstance(entry, WebSocketStream):
            app.add_api_websocket_route(entry.path, streams.websocket)
        elif isinstance(entry, Write):
            app.add_api_route(
                entry.path,
                _write(entry),
                methods=[entry.method],
                summary=entry.summary,
                name=_name(entry.path),
                status_code=entry.status,
                openapi_extra=_write_docs(entry, schemas),
            )
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = original()
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
