"""The bench client's parsers, byte for byte: every split of the input gives the same
result as the whole, so reads of any size are handled."""

from __future__ import annotations

import struct

import pytest
from bench.wire import (
    OP_PING,
    OP_TEXT,
    Dechunker,
    SseReader,
    WireError,
    WsReader,
    message_seq,
    split_head,
    ws_client_frame,
)

EVENT = b'{"seq":%d,"type":"alert.declared","alert":{"region_id":"UA46000000000026241"}}'


def sse_stream(first: int, count: int) -> bytes:
    frames = [b"retry: 1000\n\n"]
    for seq in range(first, first + count):
        frames.append(b"id: %d\nevent: alert.declared\ndata: %s\n\n" % (seq, EVENT % seq))
        if seq % 3 == 0:
            frames.append(b": keep-alive\n\n")
    return b"".join(frames)


def chunked(body: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        part = body[i : i + size]
        out += b"%x\r\n%s\r\n" % (len(part), part)
    return out


def feed_in_pieces(data: bytes, step: int) -> list[bytes]:
    dechunk, sse = Dechunker(), SseReader()
    ids: list[bytes] = []
    for i in range(0, len(data), step):
        ids += sse.feed(dechunk.feed(data[i : i + step]))
    return ids


@pytest.mark.parametrize("chunk_size", [7, 64, 10_000])
@pytest.mark.parametrize("step", [1, 2, 3, 5, 13, 100, 100_000])
def test_chunked_sse_gives_every_id_once_in_order(chunk_size: int, step: int) -> None:
    data = chunked(sse_stream(1, 27), chunk_size)
    assert feed_in_pieces(data, step) == [str(i).encode() for i in range(1, 28)]


def test_chunk_extensions_and_the_last_chunk() -> None:
    dechunk = Dechunker()
    assert dechunk.feed(b"5;name=value\r\nhello\r\n0\r\n") == b"hello"
    assert not dechunk.done
    dechunk.feed(b"\r\n")
    assert dechunk.done


def test_bad_chunk_size_is_an_error() -> None:
    with pytest.raises(WireError):
        Dechunker().feed(b"zz\r\nhello\r\n")


def test_sse_frames_without_id_are_passed_over() -> None:
    sse = SseReader()
    assert sse.feed(b"retry: 1000\n\n: hi\n\n") == []
    assert sse.feed(b"id: 1795878826:0\ndata: {}\n\n: keep-alive\n\n") == [b"1795878826:0"]


def ws_frames(payloads: list[bytes]) -> bytes:
    out = b""
    for p in payloads:
        if len(p) < 126:
            out += struct.pack("!BB", 0x81, len(p)) + p
        elif len(p) < 1 << 16:
            out += struct.pack("!BBH", 0x81, 126, len(p)) + p
        else:
            out += struct.pack("!BBQ", 0x81, 127, len(p)) + p
    return out


@pytest.mark.parametrize("step", [1, 3, 64, 100_000])
def test_ws_messages_of_every_length_survive_any_split(step: int) -> None:
    payloads = [b"x" * 10, b"y" * 300, b"z" * 70_000, EVENT % 5]
    data = ws_frames(payloads)
    reader = WsReader()
    got: list[tuple[int, bytes]] = []
    for i in range(0, len(data), step):
        got += reader.feed(data[i : i + step])
    assert got == [(OP_TEXT, p) for p in payloads]


def test_ws_fragments_are_joined_and_control_frames_pass_between() -> None:
    data = b"\x01\x03abc" + b"\x89\x02hi" + b"\x80\x03def"
    assert WsReader().feed(data) == [(OP_PING, b"hi"), (OP_TEXT, b"abcdef")]


def test_a_masked_server_frame_is_an_error() -> None:
    with pytest.raises(WireError):
        WsReader().feed(b"\x81\x83\0\0\0\0abc")


def test_client_frames_are_masked_with_a_zero_key() -> None:
    assert ws_client_frame(OP_TEXT, b"hi") == b"\x81\x82\0\0\0\0hi"


def test_message_seq_reads_the_leading_seq() -> None:
    assert message_seq(EVENT % 42) == b"42"
    assert message_seq(b'{"type":"hello","seq":3}') is None


def test_split_head_waits_for_the_whole_head() -> None:
    assert split_head(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n") is None
    head, rest = split_head(b"HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n\r\n\x81") or (
        None,
        b"",
    )
    assert head is not None and head.status == 101 and head.headers["upgrade"] == "websocket"
    assert rest == b"\x81"
