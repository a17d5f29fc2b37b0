from __future__ import annotations

from tests.server.conftest import Api, api

__all__ = ["Api", "api"]
