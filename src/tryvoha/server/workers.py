"""Serving processes: one (the default), or several on one box sharing one event stream.

With --workers N the supervisor binds the port, runs the hub (tryvoha.bus.hub) and starts
N serving processes. Each binds the same port with SO_REUSEPORT, so the kernel spreads
connections evenly over them, commits to the shared store itself, and receives everyone
else's events through the hub. A process that dies is started again. With --bus (NATS),
there is no hub: each process is a client of NATS like any other machine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from tryvoha.bus.base import Bus
from tryvoha.config import Settings
from tryvoha.server.services import Services

log = logging.getLogger(__name__)

RESTART_SECONDS = 1.0


def bind(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def run_server(
    settings: Settings, sock: socket.socket, bus: Bus | None, on_ready: Callable[[Services], None]
) -> bool:
    """One serving process: the app behind the HTTP front; True if it started."""
    import uvloop  # the server's imports cost half a second: only serving pays for them

    from tryvoha.server.app import create_app
    from tryvoha.server.front.runner import front_of, serve

    app = create_app(settings, bus)
    front = front_of(app, settings)
    started = False

    def listening() -> None:
        nonlocal started
        started = True
        # What is loaded now (regions, boundaries, state, the app) lives as long as the
        # process: out of the cyclic collector's sight, a full collection takes
        # microseconds instead of tens of milliseconds in the middle of a fan-out.
        gc.collect()
        gc.freeze()
        assert front.services is not None
        on_ready(front.services)

    try:
        uvloop.run(serve(app, front, sock, listening))
    except Exception:
        log.exception("the serving process stopped")
    return started


def announce(host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    print(f"tryvoha listening on http://{shown}:{port}", flush=True)


def serve_one(settings: Settings) -> bool:
    sock = bind(settings.host, settings.port)
    sock.listen(4096)
    port = sock.getsockname()[1]
    return run_server(settings, sock, None, lambda _: announce(settings.host, port))


# -- several processes ------------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when the supervisor dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _serving_process(settings: Settings, hub_path: str | None, ready: Any, index: int) -> None:
    from tryvoha.bus.hub import HubBus

    _die_with_parent()
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format=f"%(levelname)s [{index}] %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # an edge's forwarded writes
    sock = bind(settings.host, settings.port, reuse_port=True)
    sock.listen(4096)
    bus = HubBus(Path(hub_path)) if hub_path is not None else None  # None: --bus's
    if not run_server(settings, sock, bus, lambda _: ready.put(index)):
        sys.exit(1)


def serve_many(settings: Settings) -> bool:
    placeholder = bind(settings.host, settings.port, reuse_port=True)  # holds the port number
    port = placeholder.getsockname()[1]
    fixed = settings.model_copy(update={"port": port})
    with tempfile.TemporaryDirectory(prefix="tryvoha-") as tmp:
        try:
            return asyncio.run(_supervise(fixed, Path(tmp) / "hub.sock"))
        finally:
            placeholder.close()


async def _supervise(settings: Settings, hub_path: Path) -> bool:
    from tryvoha.bus.hub import Hub
    from tryvoha.store import open_store

    store = open_store(settings.store)
    await store.open()
    hub = None if settings.bus else Hub(store, hub_path)
    if hub is not None:
        await hub.start()
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def start(index: int) -> BaseProcess:
        process = context.Process(
            target=_serving_process,
            args=(settings, None if hub is None else str(hub_path), ready, index),
            name=f"tryvoha-{index}",
        )
        process.start()
        return process

    processes = [start(i) for i in range(settings.workers)]
    try:
        waiting = set(range(settings.workers))
        while waiting and not stop.is_set():
            with contextlib.suppress(Exception):
                waiting.discard(await loop.run_in_executor(None, ready.get, True, 0.5))
            if any(not p.is_alive() for p in processes):
                log.error("a serving process failed to start")
                return False
        if stop.is_set():
            return True
        announce(settings.host, settings.port)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RESTART_SECONDS)
            for i, process in enumerate(processes):
                if not process.is_alive() and not stop.is_set():
                    log.error(
                        "serving process %d exited with %s; starting it again", i, process.exitcode
                    )
                    processes[i] = start(i)
        return True
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            await loop.run_in_executor(None, process.join, 10)
            if process.is_alive():
                process.kill()
        ready.close()
        ready.join_thread()
        if hub is not None:
            await hub.close()
        await store.close()
