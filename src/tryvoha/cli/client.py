"""Talking to a running server over HTTP, with errors turned into one clear line."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tryvoha.cli.output import fail

DEFAULT_URL = "http://127.0.0.1:8000"


class Api:
    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError:
            fail(
                f"cannot reach {self.url}: is `tryvoha serve` running there? (--url or TRYVOHA_URL)"
            )
        except httpx.HTTPError as e:
            fail(f"{method} {self.url}{path} failed: {e}")
        return answer(response)


def answer(response: httpx.Response) -> Any:
    if response.is_success:
        return orjson.loads(response.content) if response.content else None
    try:
        problem = orjson.loads(response.content)
        detail = problem.get("detail") or problem.get("title")
    except (orjson.JSONDecodeError, AttributeError):
        detail = response.text[:200] or response.reason_phrase
    fail(f"{detail} (HTTP {response.status_code})")
