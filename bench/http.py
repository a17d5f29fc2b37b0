"""A small keep-alive HTTP/1.1 client for the controller's own requests (declares,
publishes, probes). Its send time is taken the instant before the request's bytes go
to the socket, so the latency it reports has no client library in it."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from typing import Any, Self

import orjson

from bench.wire import Dechunker, request, split_head

TIMEOUT_SECONDS = 30.0


class HttpError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    sent_ns: int
    done_ns: int

    @property
    def ms(self) -> float:
        return (self.done_ns - self.sent_ns) / 1e6

    def json(self) -> Any:
        return orjson.loads(self.body)


class Http:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, limit=16 << 20
        )

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        timeout_s: float = TIMEOUT_SECONDS,
    ) -> Reply:
        if self.writer is None or self.reader is None or self.reader.at_eof():
            # Servers close idle keep-alive connections (uvicorn after 5 s): open anew
            # rather than send into a closed one.
            await self.close()
            await self.open()
        assert self.reader is not None and self.writer is not None
        data = request(method, path, f"{self.host}:{self.port}", headers or {}, body)
        if method in ("GET", "HEAD"):
            try:
                return await self._exchange(method, data, timeout_s)
            except (asyncio.IncompleteReadError, ConnectionError):
                await self.close()  # closed while idle, unseen: a GET may be sent again
                await self.open()
        return await self._exchange(method, data, timeout_s)

    async def _exchange(self, method: str, data: bytes, timeout_s: float) -> Reply:
        assert self.reader is not None and self.writer is not None
        async with asyncio.timeout(timeout_s):
            sent_ns = time.monotonic_ns()
            self.writer.write(data)
            head_bytes = await self.reader.readuntil(b"\r\n\r\n")
            parsed = split_head(head_bytes)
            if parsed is None:
                raise HttpError("incomplete response head")
            head, _ = parsed
            if method == "HEAD" or head.status in (204, 304):
                payload = b""
            elif "content-length" in head.headers:
                payload = await self.reader.readexactly(int(head.headers["content-length"]))
            elif head.chunked:
                payload = await self._chunked()
            else:
                payload = await self.reader.read()
                await self.close()
            done_ns = time.monotonic_ns()
        if head.headers.get("connection", "").lower() == "close":
            await self.close()
        return Reply(head.status, head.headers, payload, sent_ns, done_ns)

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        decoder = Dechunker()
        parts: list[bytes] = []
        while not decoder.done:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise HttpError("connection closed inside a chunked body")
            parts.append(decoder.feed(chunk))
        return b"".join(parts)


class BlockingHttp:
    """The lightest client for one request at a time: a blocking socket, no event loop
    on the client's side of the measured time (Content-Length answers only)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT_SECONDS)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        data = request(method, path, self.host, headers or {}, body)
        sent_ns = time.monotonic_ns()
        self.sock.sendall(data)
        parsed = split_head(self.buf)
        while parsed is None:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise HttpError("connection closed before the answer")
            self.buf += chunk
            parsed = split_head(self.buf)
        head, rest = parsed
        length = 0 if head.status in (204, 304) else int(head.headers.get("content-length", -1))
        if length < 0:
            raise HttpError("an answer without Content-Length")
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise HttpError("connection closed inside a body")
            rest += chunk
        done_ns = time.monotonic_ns()
        self.buf = rest[length:]
        return Reply(head.status, head.headers, rest[:length], sent_ns, done_ns)
