"""`tryvoha serve`: one process on the embedded store, or several sharing one event stream."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys

import typer

from tryvoha.cli.output import fail
from tryvoha.config import HELP, Settings, env_name
from tryvoha.store import StoreError, open_store

DEFAULTS = Settings()


def bind(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {e.strerror}")
    return sock


def announce(host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    print(f"tryvoha listening on http://{shown}:{port}", flush=True)


def run_single(settings: Settings) -> None:
    import uvicorn  # the server's imports cost half a second: only `serve` pays for them

    from tryvoha.server.app import create_app

    sock = bind(settings.host, settings.port)
    sock.listen(2048)
    port = sock.getsockname()[1]
    app = create_app(settings, on_ready=lambda: announce(settings.host, port))
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=5,
        backlog=2048,
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        raise typer.Exit(1)


def serve(
    host: str = typer.Option(DEFAULTS.host, envvar=env_name("host"), help=HELP["host"]),
    port: int = typer.Option(DEFAULTS.port, envvar=env_name("port"), help=HELP["port"]),
    store: str = typer.Option(DEFAULTS.store, envvar=env_name("store"), help=HELP["store"]),
    workers: int = typer.Option(
        DEFAULTS.workers, envvar=env_name("workers"), min=1, max=64, help=HELP["workers"]
    ),
    max_body_bytes: int = typer.Option(
        DEFAULTS.max_body_bytes,
        envvar=env_name("max_body_bytes"),
        min=1024,
        help=HELP["max_body_bytes"],
    ),
    log_level: str = typer.Option(
        DEFAULTS.log_level, envvar=env_name("log_level"), help=HELP["log_level"]
    ),
    access_log: bool = typer.Option(
        DEFAULTS.access_log, envvar=env_name("access_log"), help=HELP["access_log"]
    ),
) -> None:
    """Serve the API, the streams and the map."""
    if log_level not in ("debug", "info", "warning", "error"):
        fail(f"--log-level: '{log_level}' is not one of debug, info, warning, error")
    settings = Settings(host, port, store, workers, max_body_bytes, log_level, access_log)
    logging.basicConfig(
        level=log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(check_store(settings.store))
    if workers > 1:
        fail("--workers above 1 is not available yet")
    try:
        run_single(settings)
    except KeyboardInterrupt:
        pass


async def check_store(url: str) -> None:
    """Open the store once before serving, so a bad URL or file is one clear line."""
    try:
        store = open_store(url)
        await store.open()
        await store.close()
    except StoreError as e:
        fail(str(e))
