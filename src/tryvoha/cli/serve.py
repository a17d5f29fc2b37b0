"""`tryvoha serve`: one process on the embedded store, or several sharing one event stream."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import typer

from tryvoha.cli.output import fail
from tryvoha.config import HELP, Settings, env_name
from tryvoha.store import StoreError, open_store

DEFAULTS = Settings()
MAX_WORKERS = 64


def serve(
    host: str = typer.Option(DEFAULTS.host, envvar=env_name("host"), help=HELP["host"]),
    port: int = typer.Option(DEFAULTS.port, envvar=env_name("port"), help=HELP["port"]),
    store: str = typer.Option(DEFAULTS.store, envvar=env_name("store"), help=HELP["store"]),
    workers: str = typer.Option(
        str(DEFAULTS.workers), envvar=env_name("workers"), help=HELP["workers"]
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
    from tryvoha.server.workers import serve_many, serve_one

    if log_level not in ("debug", "info", "warning", "error"):
        fail(f"--log-level: '{log_level}' is not one of debug, info, warning, error")
    processes = worker_count(workers)
    settings = Settings(host, port, store, processes, max_body_bytes, log_level, access_log)
    logging.basicConfig(
        level=log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(check_store(settings.store))
    try:
        started = serve_one(settings) if processes == 1 else serve_many(settings)
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror}")
    except KeyboardInterrupt:
        return
    if not started:
        raise typer.Exit(1)


def worker_count(text: str) -> int:
    """--workers: a number of processes, or auto for one per core."""
    if text.strip().lower() == "auto":  # the cores this process may run on
        return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        fail(f"--workers: '{text}' is not a number from 1 to {MAX_WORKERS}, or auto")
    return int(text)


async def check_store(url: str) -> None:
    """Open the store once before serving, so a bad URL or file is one clear line."""
    try:
        store = open_store(url)
        await store.open()
        await store.close()
    except StoreError as e:
        fail(str(e))
