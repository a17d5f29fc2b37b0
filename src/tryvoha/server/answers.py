"""Answers to polled GETs: a body built once per seq, and the one rule for conditional
requests (RFC 9110 13). The HTTP front writes these bytes itself; the app's routes give
the same status, headers and body through Starlette."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tryvoha.protocol import http_dates

LIVE_MAX_AGE = "public, max-age=1"
STATIC_MAX_AGE = "public, max-age=3600"
JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class Cached:
    """A polled body as of one seq, with the validators a client sends back."""

    seq: int
    body: bytes
    etag: str
    cache_control: str = LIVE_MAX_AGE
    content_type: str = JSON_TYPE
    changed_at: datetime | None = None  # for Last-Modified, where clients validate by date


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]  # lower-case names, no Date, no Content-Length
    body: bytes


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",")]


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match against our (strong) ETag, by weak comparison as RFC 9110 13.1.2 says
    for GET: `*` matches anything, `W/"x"` matches `"x"`."""
    if not if_none_match:
        return False
    tag = etag.removeprefix("W/")
    return any(t == "*" or t == tag for t in _tags(if_none_match))


def not_modified(cached: Cached, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present; If-Modified-Since only without
    it, and only for bodies that carry a date (`protocol/http_dates.py`)."""
    if if_none_match is not None:
        return etag_matches(if_none_match, cached.etag)
    if cached.changed_at is None:
        return False
    return http_dates.not_modified(if_modified_since, cached.changed_at)


def respond(
    cached: Cached, if_none_match: str | None, if_modified_since: str | None, now: datetime
) -> Answer:
    headers = [
        (b"etag", cached.etag.encode()),
        (b"cache-control", cached.cache_control.encode()),
        (b"access-control-allow-origin", b"*"),
    ]
    if cached.changed_at is not None:
        date = http_dates.last_modified(cached.changed_at, now)
        headers.append((b"last-modified", date.encode()))
    if not_modified(cached, if_none_match, if_modified_since):
        return Answer(304, tuple(headers), b"")
    headers.append((b"content-type", cached.content_type.encode()))
    return Answer(200, tuple(headers), cached.body)
