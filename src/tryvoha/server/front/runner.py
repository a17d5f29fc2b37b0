"""One serving process: the app's lifespan, the listening socket, and a graceful stop.

`tryvoha serve` runs this (through `server/workers.py`); there is no other HTTP server in
the process. On SIGTERM or SIGINT it stops accepting, ends every stream properly, lets
writes in flight answer, waits up to `GRACE_SECONDS` for connections to finish, resets
the rest, and only then stops the services (bus, fan-out, snapshot, store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import socket
from collections.abc import Callable

from fastapi import FastAPI

from tryvoha.config import Settings
from tryvoha.server.front.connection import Limits
from tryvoha.server.front.protocol import Front, FrontProtocol
from tryvoha.server.refusals import LOG_SECONDS

log = logging.getLogger("tryvoha.front")

GRACE_SECONDS = 5.0
BACKLOG = 4096


def limits_of(settings: Settings) -> Limits:
    return Limits(
        head_seconds=settings.request_head_seconds,
        body_seconds=settings.request_body_seconds,
        keep_alive_seconds=settings.keep_alive_seconds,
        ws_hello_seconds=settings.ws_hello_seconds,
        max_head_bytes=settings.max_head_bytes,
        max_body_bytes=settings.max_body_bytes,
        max_ws_message_bytes=settings.max_ws_message_bytes,
        max_stream_regions=settings.max_stream_regions,
    )


def front_of(app: FastAPI, settings: Settings) -> Front:
    return Front(
        app,
        limits_of(settings),
        high_water=settings.write_high_water_bytes,
        low_water=settings.write_high_water_bytes // 4,
        max_queued=settings.max_queued_bytes,
        access_log=settings.access_log,
    )


def allow_open_files() -> int:
    """Raise the soft limit on open files to the hard one: every subscriber is a socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    return soft


async def serve(
    app: FastAPI,
    front: Front,
    sock: socket.socket,
    on_listening: Callable[[], None],
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (by default: until SIGTERM or SIGINT)."""
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    allow_open_files()
    async with app.router.lifespan_context(app):
        front.services = app.state.services
        server = await loop.create_server(lambda: FrontProtocol(front), sock=sock, backlog=BACKLOG)
        refusals = front.services.refusals
        flusher = loop.create_task(_every(LOG_SECONDS, refusals.flush))
        on_listening()
        try:
            await stop.wait()
        finally:
            flusher.cancel()
            server.close()
            front.shutdown()
            await _drain(front)
            refusals.flush()


async def _every(seconds: float, work: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(seconds)
        work()


async def _drain(front: Front) -> None:
    deadline = asyncio.get_running_loop().time() + GRACE_SECONDS
    while front.connections and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    for connection in list(front.connections):
        connection.abort()
    await asyncio.sleep(0)
