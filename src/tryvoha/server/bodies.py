"""What a JSON body (or a WebSocket's first message) must be before its fields are read:
UTF-8 (a byte order mark is refused, not guessed past), with no key given twice in an
object (parsers disagree on which one wins; here neither does). Errors of JSON itself
(where it breaks) are left to the model's parser, which says where."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from tryvoha.server.problems import Problem

BOM = b"\xef\xbb\xbf"


class _Twice(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_key_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Twice(key)
        seen[key] = value
    return seen


def check_json(body: bytes | str) -> None:
    """Raise the problem with this body, if it has one of these."""
    if isinstance(body, bytes):
        if body.startswith(BOM):
            raise Problem(
                "malformed_json", "the body starts with a byte order mark: send UTF-8 without one"
            )
        if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:4]:
            raise Problem("malformed_json", "the body must be UTF-8 (this looks like UTF-16)")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Problem("malformed_json", f"the body is not UTF-8 (at byte {e.start})") from None
    else:
        text = body
    try:
        json.loads(text, object_pairs_hook=_no_key_twice)
    except _Twice as twice:
        raise Problem("invalid_body", f"{twice.key[:60]}: given twice in one object") from None
    except (ValueError, RecursionError):
        return  # not JSON at all: the model's parser says where


async def strict_json(request: Request) -> None:
    """For a route that FastAPI gives a body model: the same rules as the writes' bodies
    (a dependency, run on the body FastAPI has read)."""
    if (
        request.method in ("POST", "PUT", "PATCH")
        and "json" in request.headers.get("content-type", "").lower()
    ):  # as FastAPI reads it: Application/JSON is JSON too
        check_json(await request.body())
