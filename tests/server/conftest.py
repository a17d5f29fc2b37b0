from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tryvoha.config import Settings
from tryvoha.data import region_tree
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import issue_token
from tryvoha.server.app import create_app
from tryvoha.server.services import Services


@dataclass
class Api:
    client: httpx.AsyncClient
    services: Services

    async def token(self, name: str, *scope: str, role: Role = Role.ISSUER) -> dict[str, str]:
        issued = await issue_token(self.services.store, region_tree(), name, role, list(scope))
        return {"Authorization": f"Bearer {issued.secret}"}

    async def seq(self) -> int:
        return int((await self.client.get("/api/v1/alerts/active")).json()["seq"])


@pytest.fixture
async def api(store_url: str) -> AsyncIterator[Api]:
    """The ASGI app in-process (tier 2): real store file, no network."""
    app = create_app(Settings(store=store_url, max_body_bytes=4096))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tryvoha.test") as client:
            yield Api(client, app.state.services)
