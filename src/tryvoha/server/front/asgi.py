"""Requests the hot-route table does not cover go to the ASGI app (FastAPI): the pages, the
history and statistics, the documentation, every route that is not polled by the
thousand.

The request has been read whole by the core, under its limits and deadlines, so the app
never waits on a client; its answer is framed by h11 (length or chunks, HEAD, close), and
written under the connection's flow control: `send` waits while the socket's buffer is
above its high-water mark.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import h11

from tryvoha.server.front.connection import Request
from tryvoha.server.front.wire import phrase
from tryvoha.server.problems import Problem, crash_problem

if TYPE_CHECKING:
    from starlette.types import Message

    from tryvoha.server.front.protocol import FrontProtocol

log = logging.getLogger("tryvoha.front")


def scope_of(request: Request, conn: FrontProtocol) -> dict[str, Any]:
    transport = conn.transport
    client = transport.get_extra_info("peername")
    server = transport.get_extra_info("sockname")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": request.http_version,
        "method": request.method,
        "scheme": "http",
        "path": unquote(request.path),
        "raw_path": request.path.encode("latin-1"),
        "query_string": request.query,
        "root_path": "",
        "headers": list(request.headers),
        "client": tuple(client[:2]) if client else None,
        "server": tuple(server[:2]) if server else None,
    }


async def run_app(conn: FrontProtocol, request: Request) -> None:
    """Run the app for one request; tell the connection when its answer is out."""
    front, core = conn.front, conn.core
    line = f"{request.method} {request.target.decode('latin-1')} HTTP/{request.http_version}"
    head_only = request.method == "HEAD"
    received = False
    status = 0
    complete = False

    async def receive() -> Message:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        await conn.disconnected()  # nothing more will come: wait for the client to leave
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, complete
        if conn.gone or complete:
            return
        kind = message["type"]
        if kind == "http.response.start":
            status = message["status"]
            headers = [(b"date", front.wire.date_value()), *message.get("headers", [])]
            reason = phrase(status)
            conn.put(core.respond(h11.Response(status_code=status, headers=headers, reason=reason)))
        elif kind == "http.response.body":
            body = message.get("body", b"")
            if body and not head_only:
                conn.put(core.respond(h11.Data(data=body)))
            if not message.get("more_body", False):
                conn.put(core.respond(h11.EndOfMessage()))
                complete = True
            elif conn.congested:
                await conn.room()

    crashed: Problem | None = None
    try:
        await front.app(scope_of(request, conn), receive, send)
    except Exception:
        if status == 0:  # nothing sent yet: the client hears a problem (and it is logged)
            crashed = crash_problem(request.path)
        elif not complete:
            log.exception("the app failed in the middle of its answer to %s", line)
    if status == 0:
        problem = crashed or Problem("internal_error", "the server gave no answer; it was logged")
        if crashed is None:
            log.error("the app gave no answer to %s", line)
        data = front.wire.problem(problem, request.path, False)
        conn.answered(data, False, line, 500)
    elif not complete:
        conn.abort()  # half an answer: the client must not take it for a whole one
        conn.busy = None
    else:
        conn.answered(b"", request.keep_alive and core.app_may_continue, line, status)
