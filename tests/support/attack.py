"""Tools for the front-door tests: what an attacker with no token does to a server, and how
the tests watch the server while it happens (its memory, its open files, a reader's
latency)."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import resource
import socket
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx

from tests.support.server import timeout
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, Message, ThreatType
from tryvoha.domain.events import EventType, PendingEvent
from tryvoha.domain.regions import RegionId
from tryvoha.store import open_store

T0 = datetime(2024, 11, 13, tzinfo=UTC)
MESSAGE = Message("Тривога! Прямуйте в укриття. " * 6, "Air raid! Go to a shelter. " * 6)


def fill_log(store_url: str, regions: list[RegionId], pairs: int) -> int:
    """`pairs` declares and clears (each event about 1 KB, as a real one with a message),
    appended straight to the store; the last seq."""

    events: list[PendingEvent] = []
    for i in range(pairs):
        at = T0 + timedelta(minutes=i)
        alert = Alert(
            AlertId(f"fill-{i}"),
            regions[i % len(regions)],
            ThreatType.AIR_RAID,
            AlertLevel.RED,
            (),
            MESSAGE,
            at,
            at,
            None,
            "filler",
        )
        events.append(PendingEvent(EventType.DECLARED, at, "filler", alert))
        ended = at + timedelta(seconds=30)
        events.append(
            PendingEvent(EventType.CLEARED, ended, "filler", replace(alert, ended_at=ended))
        )

    async def run() -> int:
        store = open_store(store_url)
        await store.open()
        try:
            return int(await store.append_batch(events))
        finally:
            await store.close()

    return asyncio.run(run())


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def holds_connection_from(pid: int, peer: socket.socket) -> bool:
    """Whether process `pid` still holds the socket at the other end of `peer`'s connection
    (in any state): a socket it aborted is gone from its files at once."""
    own = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed while we looked
        if target.startswith("socket:["):
            own.add(target[len("socket:[") : -1])
    port = f"{peer.getsockname()[1]:04X}"
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[2].endswith(f":{port}") and fields[9] in own:
                    return True
    return False


def allow_open_files(needed: int) -> None:
    """Raise this process's soft limit on open files (to the hard limit) for many sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


def connect(port: int, rcvbuf: int | None = None, source: str | None = None) -> socket.socket:
    """A loopback socket; a small receive buffer makes a non-reader fill up quickly; a
    `source` such as 127.0.0.2 makes it another client (its own per-address limits)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if source is not None:
        sock.bind((source, 0))
    sock.settimeout(timeout(10))
    sock.connect(("127.0.0.1", port))
    return sock


def sse_request(query: str) -> bytes:
    return f"GET /api/v1/events?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


WS_KEY = base64.b64encode(b"0123456789abcdef").decode()
WS_HANDSHAKE = (
    "GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    f"Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 5.2), final, payload under 64 KiB."""
    mask = b"\x01\x02\x03\x04"
    size = len(payload)
    head = bytes([0x80 | opcode]) + (
        bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big")
    )
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def websocket_subscriber(
    port: int, hello: bytes | None, rcvbuf: int | None = None
) -> socket.socket:
    """A WebSocket that sends its first message (unless None) and then never reads."""
    sock = connect(port, rcvbuf)
    sock.sendall(WS_HANDSHAKE)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    if hello is not None:
        sock.sendall(ws_frame(0x1, hello))
    return sock


TCP_ESTABLISHED = 1


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of a socket (linux/tcp.h), read without reading the socket."""
    return socket_info(sock)[0]


def socket_info(sock: socket.socket) -> bytes:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)


def reset_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the peer resets or closes this socket, watched without reading from
    it (a reader is not a stalled subscriber); None if it is still open after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if tcp_state(sock) != TCP_ESTABLISHED:
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def read_until_closed(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the peer closes or resets this socket, reading what it sends."""
    started = time.monotonic()
    sock.setblocking(False)
    while time.monotonic() - started < seconds:
        try:
            while sock.recv(1 << 20):
                pass
            return time.monotonic() - started  # an orderly close
        except BlockingIOError:
            time.sleep(0.02)
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
    return None


class SseReader:
    """A healthy subscriber: reads the stream on a thread and notes when each id arrived."""

    ID = re.compile(rb"\nid: (\d+)\n")

    def __init__(self, port: int, query: str = "") -> None:
        self.sock = connect(port)
        self.sock.sendall(sse_request(query))
        self.arrived: dict[int, float] = {}
        self.data = b""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        self.sock.settimeout(None)
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            now = time.monotonic()
            with self._lock:
                start = max(0, len(self.data) - 16)
                self.data += chunk
                for match in self.ID.finditer(self.data, start):
                    self.arrived.setdefault(int(match.group(1)), now)

    def wait_for(self, seq: int, seconds: float) -> float:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                if seq in self.arrived:
                    return self.arrived[seq]
            time.sleep(0.002)
        raise TimeoutError(f"event {seq} did not arrive in {seconds} s")

    def close(self) -> None:
        self.sock.close()


def declare_latency(url: str, token: str, reader: SseReader, regions: list[str]) -> float:
    """Seconds from sending a declare to its last event reaching the reader (and the same
    for the clear that follows, untimed)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=timeout(30)) as client:
        sent = time.monotonic()
        declared = client.post("/api/v1/alerts", json={"regions": regions})
        assert declared.status_code == 201, declared.text
        seq = int(declared.json()["seq"])
        latency = reader.wait_for(seq, timeout(30)) - sent
        cleared = client.post("/api/v1/regions/UA/clear")
        assert cleared.status_code == 200, cleared.text
        reader.wait_for(int(cleared.json()["seq"]), timeout(30))
        return latency
