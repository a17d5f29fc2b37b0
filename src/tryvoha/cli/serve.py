"""`tryvoha serve`: one process on the embedded store, or several sharing one event stream.

Its options are the settings table (`tryvoha.config.Settings`), one flag per field: a flag
that is not given leaves the setting to its TRYVOHA_* variable, then to its default.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import sys
from typing import Any, Literal, get_args, get_origin

import typer
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo

from tryvoha.cli.output import fail
from tryvoha.config import Settings, env_name, explain, flag_name
from tryvoha.store import StoreError, open_store


def serve(**given: Any) -> None:
    """Serve the API, the streams and the map."""
    from tryvoha.server.workers import serve_many, serve_one

    try:
        chosen = {name: value for name, value in given.items() if value not in (None, [])}
        settings = Settings(**chosen)
    except ValidationError as e:
        fail(explain(e))
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # an edge's forwarded writes
    asyncio.run(check_store(settings.store))
    if settings.standing_alerts and settings.role.writes:  # an edge writes nothing
        check_port(settings.host, settings.port)  # a server that cannot start writes nothing
        asyncio.run(declare_standing(settings.store))
    try:
        started = serve_one(settings) if settings.workers == 1 else serve_many(settings)
    except OSError as e:
        fail(f"cannot listen on {settings.host}:{settings.port}: {e.strerror}")
    except KeyboardInterrupt:
        return
    if not started:
        raise typer.Exit(1)


def _options() -> list[inspect.Parameter]:
    """One typer option per setting; None (not given) lets the environment decide."""
    params = []
    for name, field in Settings.model_fields.items():
        flag = flag_name(name)
        default = "off" if field.default is False else field.default
        if field.default == [] or isinstance(field.default, SecretStr):
            default = "none"
        help_text = f"{field.description} (default: {default}; {env_name(name)})"
        if field.annotation is bool:
            option = typer.Option(None, f"{flag}/--no-{flag[2:]}", help=help_text)
            annotation: Any = bool | None
        elif get_origin(field.annotation) is list:  # the flag is given once per item
            option = typer.Option(None, flag, help=help_text, metavar=_metavar(field))
            annotation = list[str] | None
        else:
            option = typer.Option(None, flag, help=help_text, metavar=_metavar(field))
            annotation = str | None
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation
            )
        )
    return params


def _metavar(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "metavar" in extra:
        return str(extra["metavar"])
    if get_origin(field.annotation) is Literal:
        return "|".join(str(choice) for choice in get_args(field.annotation))
    return {int: "N", float: "SECONDS"}.get(field.annotation, "TEXT")  # type: ignore[arg-type]


serve.__signature__ = inspect.Signature(_options())  # type: ignore[attr-defined]
serve.__annotations__ = {p.name: p.annotation for p in serve.__signature__.parameters.values()}  # type: ignore[attr-defined]


async def check_store(url: str) -> None:
    """Open the store once before serving, so a bad URL or file is one clear line."""
    try:
        store = open_store(url)
        await store.open()
        await store.close()
    except StoreError as e:
        fail(str(e))


def check_port(host: str, port: int) -> None:
    """Fail with one line now if the address is taken (uvicorn would, but later)."""
    if port == 0:
        return
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror}")


async def declare_standing(url: str) -> None:
    """The standing alerts, once, before any serving process starts (tryvoha.engine.standing)."""
    from tryvoha.data import region_tree
    from tryvoha.engine.engine import Engine
    from tryvoha.engine.standing import load_standing
    from tryvoha.web.names import display_name

    store = open_store(url)
    await store.open()
    try:
        tree = region_tree()
        engine = await Engine.load(store, tree)
        declared = await load_standing(engine, store, tree)
        for alert in declared:
            logging.getLogger("tryvoha.standing").info(
                "standing alert declared: %s since %s (turn off with --no-standing-alerts)",
                display_name(alert.region_id),
                alert.started_at.date().isoformat(),
            )
        if declared:
            await engine.save_snapshot()
    finally:
        await store.close()
