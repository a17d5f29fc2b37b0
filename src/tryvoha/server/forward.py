"""An edge's writes, carried to a writer and answered as the writer answered.

An edge takes no write itself: it sends the request as it came (method, path and query as
sent, body, token, Idempotency-Key, Content-Type) to a writer, and gives its client the
writer's status, headers and body unchanged, `seq` and problems included. Only what
belongs to one connection (Date, Content-Length, Connection, ...) is the edge's own.

Writers are tried in the order given, starting with the one that answered last; the next
is tried only when one could not be reached at all (the request never left), so failing
over never makes a write twice. A writer that took the request and then did not answer
gets the client a 504: it retries with its Idempotency-Key and gets the one answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from starlette.requests import Request
from starlette.responses import Response

from tryvoha.server.answers import Answer
from tryvoha.server.problems import Problem

CONNECT_SECONDS = 2.0
ANSWER_SECONDS = 30.0  # a writer waits at most this long for the log's write lock itself
FORWARDED = ("authorization", "idempotency-key", "content-type")
OWN_HEADERS = frozenset(  # of one connection, not of the answer
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"content-length",
        b"date",
        b"server",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-connection",
    }
)


class Forwarder:
    def __init__(self, writers: Sequence[str]) -> None:
        if not writers:
            raise ValueError("an edge needs at least one writer URL")
        self.writers = [w.rstrip("/") for w in writers]
        self.first = 0  # the writer that answered last
        self.forwarded = 0
        self.failed_over = 0
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(ANSWER_SECONDS, connect=CONNECT_SECONDS),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            follow_redirects=False,
        )

    async def forward(
        self, method: str, target: str, body: bytes, headers: Sequence[tuple[str, str | None]]
    ) -> Answer:
        """`target` is the path and query as the client sent them."""
        sent = [(name, value) for name, value in headers if value is not None]
        count = len(self.writers)
        for attempt in range(count):
            index = (self.first + attempt) % count
            try:
                response = await self._client.request(
                    method, self.writers[index] + target, content=body, headers=sent
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
                self.failed_over += 1
                continue  # nothing reached this writer: the next may take it
            except httpx.TimeoutException:
                raise Problem(
                    "writer_timeout",
                    "the writer took the request but did not answer in time; retry with the "
                    "same Idempotency-Key to learn whether it was made",
                ) from None
            except httpx.HTTPError as e:
                raise Problem(
                    "writer_timeout",
                    f"the connection to the writer failed during the request ({type(e).__name__}); "
                    "retry with the same Idempotency-Key",
                ) from None
            self.first = index
            self.forwarded += 1
            return Answer(response.status_code, relayed(response.headers.raw), response.content)
        raise Problem(
            "writer_unavailable", "no writer could be reached; nothing was written: try again"
        )

    async def carry(self, request: Request, names: Sequence[str] = FORWARDED) -> Response:
        """An API route's request, sent on as it came (with the headers `names`), and the
        writer's answer as a response, unchanged."""
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = [(name, request.headers.get(name)) for name in names]
        answer = await self.forward(request.method, target, await request.body(), headers)
        raw = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in answer.headers]
        return Response(answer.body, answer.status, headers=dict(raw))

    async def close(self) -> None:
        await self._client.aclose()


def relayed(headers: Sequence[tuple[bytes, bytes]]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((n.lower(), v) for n, v in headers if n.lower() not in OWN_HEADERS)
