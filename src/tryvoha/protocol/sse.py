"""Server-Sent Events and WebSocket framing of an encoded event: built once per event,
written to every subscriber as the same bytes."""

from __future__ import annotations

import struct

HEARTBEAT = b": keep-alive\n\n"
RETRY = b"retry: 1000\n\n"  # reconnect after 1 s (browsers default to 3 s)


def sse_frame(seq: int, event_type: str, raw: bytes) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, event_type.encode(), raw)


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (RFC 9112 7.1): a stream's bytes for sockets we write ourselves."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
WS_PING = b"\x89\x00"  # an empty ping frame, unmasked
WS_GOING_AWAY = b"\x88\x02\x03\xe9"  # a close frame with code 1001: the server is going away


def ws_text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame (RFC 6455 5.2): what a server sends; the same for all."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload
