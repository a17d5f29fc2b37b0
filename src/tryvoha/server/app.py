"""The ASGI application: API v1, the streams, the compatible APIs, the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tryvoha import __version__
from tryvoha.bus.base import Bus
from tryvoha.config import Settings
from tryvoha.server import (
    api_alerts_in_ua,
    api_cap,
    api_locate,
    api_pending,
    api_push,
    api_stats,
    api_ukrainealarm,
    api_v1,
    api_webhooks,
    contract,
    docs_page,
    health,
    hot_app,
    pages,
    problems,
    static,
)
from tryvoha.server.limits import BodyLimit
from tryvoha.server.services import Services


def create_app(
    settings: Settings, bus: Bus | None = None, on_ready: Callable[[Services], None] | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = await Services.start(settings, bus)
        if on_ready is not None:
            on_ready(app.state.services)
        try:
            yield
        finally:
            await app.state.services.stop()

    app = FastAPI(
        title="tryvoha",
        version=__version__,
        summary="Open, self-hostable nationwide air-raid alerts",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # server/docs_page.py: a packaged Swagger UI, no CDN, no inline script
        redoc_url=None,
        lifespan=lifespan,
    )
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    hot_app.install(app)  # the table of hot routes, the same as the HTTP front serves
    app.include_router(api_v1.router)
    app.include_router(api_pending.router)
    app.include_router(health.router)
    app.include_router(api_webhooks.router)
    app.include_router(api_stats.router)
    app.include_router(api_locate.router)
    app.include_router(api_push.router)
    app.include_router(api_cap.router)
    app.include_router(api_alerts_in_ua.router)
    app.include_router(api_ukrainealarm.router)
    app.include_router(static.router)
    app.include_router(docs_page.router)
    app.include_router(pages.router)
    contract.install(app)  # every answer each operation gives, in the document
    return app
