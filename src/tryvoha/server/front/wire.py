"""The bytes of the answers the front writes itself: polled bodies, write results,
problems and stream heads, each with a Date header made once a second. A polled answer
is built once per (body, validators, second) and the same bytes are written to every
poller that asks for it in that second."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import formatdate
from http import HTTPStatus

from tryvoha.server.answers import Cached, respond
from tryvoha.server.problems import Problem, problem_parts

MAX_REMEMBERED = 256
SSE_HEADERS = (
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache, no-transform\r\n"
    b"x-accel-buffering: no\r\n"  # nginx: pass each event on at once
    b"access-control-allow-origin: *\r\n"
)


def phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def status_line(status: int) -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase(status))


class Wire:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._second = -1
        self._date = b""
        self._polls: dict[tuple[str, str | None, str | None, bool, bool], bytes] = {}

    def date(self) -> bytes:
        """The Date header line, made once a second (RFC 9110 6.6.1)."""
        second = int(self.clock())
        if second != self._second:
            self._second = second
            self._date = b"date: %s\r\n" % formatdate(second, usegmt=True).encode()
            self._polls.clear()
        return self._date

    def date_value(self) -> bytes:
        return self.date()[6:-2]

    def poll(
        self,
        cached: Cached,
        if_none_match: str | None,
        if_modified_since: str | None,
        keep_alive: bool,
        head: bool,
    ) -> bytes:
        date = self.date()
        key = (cached.etag, if_none_match, if_modified_since, keep_alive, head)
        found = self._polls.get(key)
        if found is not None:
            return found
        answer = respond(cached, if_none_match, if_modified_since, datetime.now(UTC))
        data = self.answer(answer.status, answer.headers, answer.body, keep_alive, head, date)
        if len(self._polls) >= MAX_REMEMBERED:
            self._polls.clear()
        self._polls[key] = data
        return data

    def answer(
        self,
        status: int,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
        keep_alive: bool,
        head: bool = False,
        date: bytes | None = None,
    ) -> bytes:
        parts = [status_line(status), date or self.date()]
        parts.extend(b"%s: %s\r\n" % (name, value) for name, value in headers)
        if status != 304 and status >= 200:
            parts.append(b"content-length: %d\r\n" % len(body))
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if not head and status != 304:
            parts.append(body)
        return b"".join(parts)

    def problem(self, problem: Problem, instance: str | None, keep_alive: bool) -> bytes:
        status, headers, body = problem_parts(problem, instance)
        return self.answer(status, headers, body, keep_alive)

    def stream_head(self, chunked: bool) -> bytes:
        framing = b"transfer-encoding: chunked\r\n" if chunked else b"connection: close\r\n"
        return status_line(200) + self.date() + SSE_HEADERS + framing + b"\r\n"
