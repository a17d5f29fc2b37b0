"""What the subscribers read and write, as bytes in and items out: no sockets here.

The fan-out client holds tens of thousands of connections per process, so each parser
keeps the smallest state it can and does its work with bytes methods that run in C
(`find`, `split`, slicing); a frame costs a few hundred nanoseconds of Python.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

# Every WebSocket upgrade sends the same key: it is a nonce against confused proxies, not
# a secret, and one key lets the expected accept value be computed once.
WS_KEY = base64.b64encode(b"tryvoha-bench-ws").decode()
WS_ACCEPT = base64.b64encode(
    hashlib.sha1((WS_KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
).decode()

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

MAX_HEADER_BYTES = 16_384


class WireError(Exception):
    """The peer sent something this client does not accept."""


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()


def split_head(buf: bytes) -> tuple[Head, bytes] | None:
    """A response head and the bytes after it, or None while the head is incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEADER_BYTES:
            raise WireError("response head longer than 16 KiB")
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise WireError(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise WireError(f"bad header line: {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return Head(int(parts[1]), headers), buf[end + 4 :]


def request(method: str, target: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Dechunker:
    """Incremental decoder of `Transfer-Encoding: chunked` (RFC 9112 7.1).

    The common case, a chunk whose data and CRLF are all in hand, takes one short
    `find` and two slices; the rest of the states handle chunks split across reads.
    """

    __slots__ = ("done", "last", "pending", "remaining", "skip")

    def __init__(self) -> None:
        self.pending = b""  # an incomplete size line
        self.remaining = 0  # data bytes left in the current chunk
        self.skip = 0  # bytes of the CRLF after a chunk's data still to skip
        self.last = False  # the zero-size chunk came; its CRLF is being skipped
        self.done = False  # the body ended (no trailers are expected)

    def feed(self, data: bytes) -> bytes:
        if self.pending:
            data = self.pending + data
            self.pending = b""
        out: list[bytes] = []
        i, n = 0, len(data)
        remaining, skip = self.remaining, self.skip
        find = data.find
        while i < n:
            if remaining:
                end = i + remaining
                if end > n:
                    out.append(data[i:])
                    remaining -= n - i
                    i = n
                    break
                out.append(data[i:end])
                i, remaining, skip = end, 0, 2
            if skip:
                if i + skip > n:
                    skip -= n - i
                    break
                i += skip
                skip = 0
                if self.last:
                    self.done = True
                    break
                continue
            j = find(b"\r\n", i, i + 1024)
            if j < 0:
                if n - i >= 1024:
                    raise WireError("chunk size line longer than 1 KiB")
                self.pending = data[i:]
                break
            try:
                size = int(data[i:j], 16)
            except ValueError:  # a chunk extension (";name=value"), or garbage
                text = data[i:j].split(b";", 1)[0].strip()
                try:
                    size = int(text, 16)
                except ValueError:
                    raise WireError(f"bad chunk size {text[:20]!r}") from None
            i = j + 2
            if size == 0:
                self.last, skip = True, 2
                continue
            end = i + size
            if end + 2 <= n:  # the whole chunk is here
                out.append(data[i:end])
                i = end + 2
            else:
                remaining = size
        self.remaining, self.skip = remaining, skip
        return out[0] if len(out) == 1 else b"".join(out)


FRAME_START = b"\n\nid: "


class SseReader:
    """Splits an event stream into frames; yields the `id` of each frame that has one.

    Frames are found by one search for `\n\nid: ` (a long needle scans fast), so a
    batch of events costs one pass over its bytes plus a few operations per event.
    Frames without an id (`retry:`, comments such as keep-alives and nchan's `: hi`)
    carry no event and are passed over.
    """

    __slots__ = ("buf",)

    def __init__(self) -> None:
        # Bytes not yet resolved; always begins at a frame boundary, written as the
        # "\n\n" that ends the frame before it, so FRAME_START matches the first frame.
        self.buf = b"\n\n"

    def feed(self, data: bytes) -> list[bytes]:
        data = self.buf + data
        parts = data.split(FRAME_START)
        if len(parts) == 1:
            # No event begins here; keep only what may still become one.
            cut = data.rfind(b"\n\n")
            self.buf = data[cut:] if cut >= 0 else data
            return []
        ids: list[bytes] = []
        for part in parts[1:-1]:  # each followed by another frame: complete
            end = part.find(b"\n")
            if end < 0:
                raise WireError("an SSE id line without a frame")
            ids.append(part[:end])
        last = parts[-1]
        end = last.find(b"\n\n")
        if end < 0:
            self.buf = FRAME_START + last  # not complete yet
        else:
            line = last.find(b"\n")
            ids.append(last[:line])
            rest = last[end:]
            cut = rest.rfind(b"\n\n")
            self.buf = rest[cut:]
        return ids


class WsReader:
    """Frames of a server's WebSocket stream (unmasked, RFC 6455 5.2) as whole messages.

    Yields (opcode, payload); continuation frames are joined into the message they
    continue, and control frames may arrive between them.
    """

    __slots__ = ("buf", "parts", "parts_op")

    def __init__(self) -> None:
        self.buf = b""
        self.parts: list[bytes] = []
        self.parts_op = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self.buf + data if self.buf else data
        out: list[tuple[int, bytes]] = []
        i, n = 0, len(buf)
        while n - i >= 2:
            b1 = buf[i + 1]
            if b1 & 0x80:
                raise WireError("the server masked a frame")
            size = b1 & 0x7F
            if size < 126:
                start = i + 2
            elif size == 126:
                if n - i < 4:
                    break
                size = (buf[i + 2] << 8) | buf[i + 3]
                start = i + 4
            else:
                if n - i < 10:
                    break
                size = int.from_bytes(buf[i + 2 : i + 10], "big")
                start = i + 10
            end = start + size
            if end > n:
                break
            b0 = buf[i]
            i = end
            if b0 == 0x80 | OP_TEXT:  # a whole text message: nearly every frame
                out.append((OP_TEXT, buf[start:end]))
                continue
            payload = buf[start:end]
            opcode, fin = b0 & 0x0F, b0 & 0x80
            if opcode >= OP_CLOSE:
                out.append((opcode, payload))
            elif opcode == OP_CONTINUATION:
                if not self.parts:
                    raise WireError("continuation frame without a message")
                self.parts.append(payload)
                if fin:
                    out.append((self.parts_op, b"".join(self.parts)))
                    self.parts = []
            elif fin:
                out.append((opcode, payload))
            else:
                self.parts, self.parts_op = [payload], opcode
        self.buf = buf[i:] if i < n else b""
        return out


def ws_client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked frame as a client must send it. The mask key is zero, which
    RFC 6455 allows and which leaves the payload as it is (no proxy sits on loopback)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return head + b"\0\0\0\0" + payload


def ws_upgrade(path: str, host: str) -> bytes:
    return request(
        "GET",
        path,
        host,
        {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": WS_KEY,
            "Sec-WebSocket-Version": "13",
        },
        b"",
    )


def message_seq(payload: bytes) -> bytes | None:
    """The seq of a JSON message that begins with it, as tryvoha's events (and the
    payloads the bench publishes to nchan) do: `{"seq":123,...`. None otherwise."""
    if not payload.startswith(b'{"seq":'):
        return None
    end = payload.find(b",", 7)
    return payload[7:end] if end > 7 else None


def id_key(raw: bytes) -> tuple[int, bytes]:
    """Orders ids that are decimal numbers (tryvoha's seq) or `time:tag` (nchan)."""
    return len(raw), raw
