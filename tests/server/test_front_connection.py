"""The front's connection core, sans I/O: bytes and a fake clock in, decisions out. No
loop, no socket: every request form, pipelining, the limits and the deadlines."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import LVIV
from tryvoha.data import region_tree
from tryvoha.domain.regions import RegionTree
from tryvoha.server.fanout import Kind
from tryvoha.server.front.connection import (
    NEED_DATA,
    AnswerPoll,
    Attach,
    Carry,
    Close,
    Connection,
    Decision,
    Limits,
    Memo,
    Refuse,
    Send,
    ToApp,
)
from tryvoha.server.routes import Router

LIMITS = Limits(
    head_seconds=10,
    body_seconds=30,
    keep_alive_seconds=5,
    ws_hello_seconds=10,
    max_head_bytes=2048,
    max_body_bytes=1000,
    max_stream_regions=3,
)
TREE: RegionTree = region_tree()
ROUTER = Router()
GET_ACTIVE = b"GET /api/v1/alerts/active HTTP/1.1\r\nHost: x\r\n\r\n"


def connection(now: float = 0.0, memo: Memo | None = None) -> Connection:
    return Connection(ROUTER, TREE, LIMITS, now, {} if memo is None else memo)


def decisions(conn: Connection, now: float = 0.0) -> list[Decision]:
    """Every decision until the core needs more bytes (or an answer to be out)."""
    out = []
    while (decision := conn.next_decision(now)) is not NEED_DATA:
        out.append(decision)
    return out


def post(path: str, body: bytes, *headers: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", *headers]
    if not any(h.lower().startswith("transfer-encoding") for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_a_poll_is_answered_and_the_same_bytes_again_skip_the_parser() -> None:
    memo: Memo = {}
    conn = connection(memo=memo)
    conn.receive_data(GET_ACTIVE, 0.0)
    (first,) = decisions(conn)
    assert isinstance(first, AnswerPoll)
    assert first.entry.path == "/api/v1/alerts/active"
    assert first.keep_alive and not first.head and first.if_none_match is None
    assert memo[GET_ACTIVE] is first
    conn.receive_data(GET_ACTIVE, 1.0)
    assert conn.http is None  # not parsed: remembered
    assert decisions(conn) == [first]
    conditional = b'GET /api/v1/state HTTP/1.1\r\nHost: x\r\nIf-None-Match: "s1"\r\n\r\n'
    conn.receive_data(conditional, 2.0)
    (third,) = decisions(conn)
    assert isinstance(third, AnswerPoll) and third.if_none_match == '"s1"'


def test_head_connection_close_and_http_1_0() -> None:
    conn = connection()
    conn.receive_data(b"HEAD /api/v1/state HTTP/1.1\r\nHost: x\r\n\r\n", 0)
    (head,) = decisions(conn)
    assert isinstance(head, AnswerPoll) and head.head
    conn.receive_data(GET_ACTIVE.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"), 0)
    closing, close = decisions(conn)
    assert isinstance(closing, AnswerPoll) and not closing.keep_alive
    assert isinstance(close, Close)
    old = connection()
    old.receive_data(b"GET /api/v1/state HTTP/1.0\r\n\r\n", 0)
    answer, close = decisions(old)
    assert isinstance(answer, AnswerPoll) and not answer.keep_alive and isinstance(close, Close)


def test_pipelined_requests_are_taken_one_at_a_time() -> None:
    conn = connection()
    write = post("/api/v1/alerts", b'{"regions": ["UA"]}', "Content-Type: application/json")
    conn.receive_data(
        GET_ACTIVE + write + GET_ACTIVE + b"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n", 0
    )
    first, carry = decisions(conn)
    assert isinstance(first, AnswerPoll) and isinstance(carry, Carry)
    assert carry.request.body == b'{"regions": ["UA"]}' and carry.entry.path == "/api/v1/alerts"
    assert decisions(conn) == []  # nothing more until the write is answered
    conn.answered(1.0, keep_alive=True)
    third, to_app = decisions(conn, 1.0)
    assert isinstance(third, AnswerPoll) and isinstance(to_app, ToApp)
    assert to_app.request.path == "/elsewhere"
    conn.answered(2.0, keep_alive=True)
    assert decisions(conn, 2.0) == []


def test_empty_lines_before_a_request_and_absolute_targets() -> None:
    conn = connection()
    conn.receive_data(b"\r\n\r\n" + GET_ACTIVE, 0)
    assert isinstance(decisions(conn)[0], AnswerPoll)
    conn.receive_data(b"GET http://example.org/api/v1/state?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 0)
    (answer,) = decisions(conn)
    assert isinstance(answer, AnswerPoll) and answer.entry.path == "/api/v1/state"


def test_a_write_body_in_pieces_chunked_and_expecting_100_continue() -> None:
    conn = connection()
    data = post("/api/v1/alerts/abc/clear", b"")
    conn.receive_data(data[:10], 0)
    assert decisions(conn) == []
    conn.receive_data(data[10:], 1)
    (carry,) = decisions(conn, 1)
    assert isinstance(carry, Carry) and carry.params == {"alert_id": "abc"}
    conn.answered(1, keep_alive=True)
    chunked = post("/api/v1/alerts", b"", "Transfer-Encoding: chunked")
    conn.receive_data(chunked + b'3\r\n{"r\r\n2\r\n":\r\n0\r\n\r\n', 2)
    (carry,) = decisions(conn, 2)
    assert isinstance(carry, Carry) and carry.request.body == b'{"r":'
    conn.answered(2, keep_alive=True)
    conn.receive_data(post("/api/v1/alerts", b"", "Expect: 100-continue")[: -0 or None], 3)
    waiting = connection()
    head = b"POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    waiting.receive_data(head, 0)
    (go_on,) = decisions(waiting)
    assert isinstance(go_on, Send) and go_on.data.startswith(b"HTTP/1.1 100 ")
    waiting.receive_data(b"{}", 0)
    (carry,) = decisions(waiting)
    assert isinstance(carry, Carry) and carry.request.body == b"{}"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"BLAH\r\n\r\n", 400, "bad_request"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, "bad_request"),  # no Host
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "http_version_not_supported"),
        (b"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"),
        (post("/api/v1/alerts", b"x" * 1001), 413, "body_too_large"),
        (
            b"POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            "bad_request",
        ),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431, "head_too_large"),
    ],
)
def test_what_cannot_be_read_on_is_refused_and_closed(data: bytes, status: int, code: str) -> None:
    conn = connection()
    conn.receive_data(data, 0)
    (refused,) = decisions(conn)
    assert isinstance(refused, Refuse) and refused.close
    assert (refused.problem.status, refused.problem.code) == (status, code)
    conn.receive_data(GET_ACTIVE, 1)
    assert decisions(conn, 1) == []  # nothing after a refusal


def test_a_body_over_the_limit_is_refused_before_it_arrives() -> None:
    conn = connection()
    conn.receive_data(b"POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 0)
    (refused,) = decisions(conn)
    assert isinstance(refused, Refuse) and refused.problem.status == 413
    chunked = connection()
    chunked.receive_data(post("/api/v1/alerts", b"", "Transfer-Encoding: chunked"), 0)
    for _ in range(3):
        chunked.receive_data(b"200\r\n" + b"x" * 512 + b"\r\n", 0)
    assert any(isinstance(d, Refuse) and d.problem.status == 413 for d in decisions(chunked))


def test_deadlines_are_absolute_activity_does_not_extend_them() -> None:
    conn = connection(now=0)
    assert conn.deadline == 5  # idle: the keep-alive time
    conn.receive_data(b"GET /api/v1/state HTTP/1.1\r\n", 1)
    assert conn.deadline == 1 + 10  # a head began
    for t in range(2, 11):
        conn.receive_data(b"X: y\r\n", t)  # a byte now and then changes nothing
        assert decisions(conn, t) == [] and conn.expire(t) is None
    expired = conn.expire(11)
    assert isinstance(expired, Refuse) and expired.problem.status == 408 and expired.close
    body = connection(now=0)
    body.receive_data(b"POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", 2)
    assert decisions(body, 2) == [] and body.deadline == 2 + 30
    body.receive_data(b"12345", 20)
    assert body.expire(31) is None
    late = body.expire(32)
    assert isinstance(late, Refuse) and "body" in late.problem.detail
    idle = connection(now=0)
    assert isinstance(idle.expire(5), Close)


def test_no_deadline_while_an_answer_is_made_then_keep_alive_again() -> None:
    conn = connection(now=0)
    conn.receive_data(post("/api/v1/alerts/x/clear", b""), 0)
    assert isinstance(decisions(conn)[0], Carry)
    assert conn.deadline is None and conn.expire(1000) is None
    conn.answered(1000, keep_alive=True)
    assert conn.deadline == 1005


def test_end_of_input_after_a_request_answers_it_then_closes() -> None:
    conn = connection()
    conn.receive_data(post("/api/v1/alerts/x/clear", b""), 0)
    conn.receive_eof()
    (carry,) = decisions(conn)
    assert isinstance(carry, Carry)
    conn.answered(1, keep_alive=True)
    assert isinstance(decisions(conn, 1)[0], Close)
    idle = connection()
    idle.receive_eof()
    assert isinstance(decisions(idle)[0], Close)


def test_an_event_stream_is_attached_with_its_filter_and_seq() -> None:
    conn = connection()
    conn.receive_data(
        f"GET /api/v1/events?after=7&region={LVIV}&history=true HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        0,
    )
    (attach,) = decisions(conn)
    assert isinstance(attach, Attach) and attach.kind is Kind.SSE_CHUNKED
    assert (
        attach.ask.after == 7 and attach.ask.filter.regions == {LVIV} and attach.ask.filter.history
    )
    assert conn.deadline is None  # a subscriber: the fan-out's stall rule applies, not a timer
    conn.receive_data(b"anything at all", 1)
    assert decisions(conn, 1) == []
    resumed = connection()
    resumed.receive_data(b"GET /api/v1/events?after=7 HTTP/1.0\r\nLast-Event-ID: 9\r\n\r\n", 0)
    (attach,) = decisions(resumed)
    assert isinstance(attach, Attach) and attach.kind is Kind.SSE and attach.ask.after == 9


@pytest.mark.parametrize(
    "query",
    ["after=x", "region=Atlantis", "history=yes", "region=UA&region=UA80&region=a&region=b"],
)
def test_a_bad_stream_request_is_refused_and_the_connection_goes_on(query: str) -> None:
    conn = connection()
    conn.receive_data(f"GET /api/v1/events?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 0)
    (refused,) = decisions(conn)
    assert isinstance(refused, Refuse) and not refused.close
    assert refused.problem.status == 422
    conn.receive_data(GET_ACTIVE, 1)
    assert isinstance(decisions(conn, 1)[0], AnswerPoll)


KEY = base64.b64encode(b"0123456789abcdef")
WS_HANDSHAKE = (
    b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def frame(opcode: int, payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def test_a_websocket_handshake_hello_pings_and_close() -> None:
    conn = connection()
    conn.receive_data(WS_HANDSHAKE + frame(0x9, b"hi"), 0)
    accepted, pong = decisions(conn)
    assert isinstance(accepted, Send) and accepted.data.startswith(b"HTTP/1.1 101")
    assert isinstance(pong, Send) and pong.data == b"\x8a\x02hi"
    assert conn.deadline == 10  # the first message is due
    conn.receive_data(frame(0x1, f'{{"after": 3, "regions": ["{LVIV}"]}}'.encode()), 1)
    (attach,) = decisions(conn, 1)
    assert isinstance(attach, Attach) and attach.kind is Kind.WS and attach.ask.after == 3
    assert conn.deadline is None
    conn.receive_data(frame(0x8, b"\x03\xe8"), 2)  # the client closes
    reply, close = decisions(conn, 2)
    assert isinstance(reply, Send) and reply.data.startswith(b"\x88") and isinstance(close, Close)


@pytest.mark.parametrize(
    "hello",
    [
        b'{"after": "yesterday"}',
        b'{"history": "yes"}',
        b'{"regions": ["Atlantis"]}',
        b"[]",
        b'{"after": 1, "after": 2}',
    ],
)
def test_a_bad_first_message_gets_an_error_and_a_close(hello: bytes) -> None:
    conn = connection()
    conn.receive_data(WS_HANDSHAKE, 0)
    decisions(conn)
    conn.receive_data(frame(0x1, hello), 1)
    error, close = decisions(conn, 1)
    assert isinstance(error, Send) and b'"type":"error"' in error.data
    assert b"\x88" in error.data and isinstance(close, Close)  # an error, then a close frame


def test_a_websocket_that_says_nothing_is_closed_at_its_deadline() -> None:
    conn = connection()
    conn.receive_data(WS_HANDSHAKE, 0)
    decisions(conn)
    assert conn.expire(9) is None
    told = conn.expire(10)
    assert isinstance(told, Send) and b"first" in told.data
    assert isinstance(decisions(conn, 10)[-1], Close)


def test_a_bad_websocket_handshake_is_a_problem() -> None:
    conn = connection()
    conn.receive_data(b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\n\r\n", 0)
    (refused,) = decisions(conn)
    assert isinstance(refused, Refuse) and refused.problem.code == "bad_websocket_handshake"
    assert refused.problem.status == 426


def test_the_server_stopping_ends_each_kind_of_connection() -> None:
    idle = connection()
    assert isinstance(idle.shutdown(), Close)
    busy = connection()
    busy.receive_data(post("/api/v1/alerts/x/clear", b""), 0)
    decisions(busy)
    assert busy.shutdown() is None  # the answer in progress goes out first
    ws = connection()
    ws.receive_data(WS_HANDSHAKE, 0)
    decisions(ws)
    going = ws.shutdown()
    assert isinstance(going, Send) and going.close and going.data.startswith(b"\x88")


REQUESTS = [
    GET_ACTIVE,
    WS_HANDSHAKE,
    post("/api/v1/alerts", b'{"regions": []}', "Content-Type: application/json"),
    post("/api/v1/alerts", b"", "Transfer-Encoding: chunked") + b"2\r\n{}\r\n0\r\n\r\n",
    b"GET /api/v1/events?after=1 HTTP/1.1\r\nHost: x\r\n\r\n",
]


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(
        st.one_of(st.sampled_from(REQUESTS), st.binary(max_size=40)), min_size=1, max_size=6
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=64), max_size=8),
)
def test_any_bytes_in_any_pieces_give_decisions_never_an_error(
    parts: list[bytes], cuts: list[int]
) -> None:
    """Whatever arrives, however it is cut: the core decides (answers, refuses, closes);
    it never raises, and a refused connection decides nothing more."""
    data = b"".join(parts)
    conn = connection()
    now = 0.0
    for size in [*cuts, len(data)]:
        piece, data = data[:size], data[size:]
        if piece:
            conn.receive_data(piece, now)
        for decision in decisions(conn, now):
            if isinstance(decision, Carry | ToApp):
                conn.answered(now, keep_alive=True)
        now += 0.1
    conn.receive_eof()
    decisions(conn, now)
    conn.expire(now + 100)


def test_only_short_requests_are_remembered() -> None:
    """The memo is bounded in bytes as well as entries: a long request is parsed each time."""
    memo: Memo = {}
    conn = Connection(ROUTER, TREE, Limits(max_head_bytes=16_384), 0, memo)
    long = b"GET /api/v1/state?" + b"x" * 1900 + b" HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"y" * 200
    conn.receive_data(long + b"\r\n\r\n", 0)
    assert isinstance(decisions(conn)[0], AnswerPoll)
    assert memo == {}
