"""Web Push in tests: a browser's keys, made as PushManager makes them, to decrypt what
the server pushes; and a local stand-in for a push service (an HTTP server on loopback)
that records every message and answers as each test tells it to."""

from __future__ import annotations

import base64
import http.server
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import http_ece
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.server import timeout


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class BrowserKeys:
    """What a browser makes when it subscribes: a P-256 key pair and a 16-byte secret."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.p256dh = b64url(raw)

    def subscription(self, endpoint: str) -> dict[str, Any]:
        """As PushSubscription.toJSON() gives it."""
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(
            body, private_key=self.private, auth_secret=self.auth, version="aes128gcm"
        )
        found: dict[str, Any] = orjson.loads(plain)
        return found


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


class PushReceiver:
    """A push service on 127.0.0.1: POST /push/<name> is a message for browser <name>."""

    def __init__(self) -> None:
        self.received: dict[str, list[Received]] = defaultdict(list)
        self.answers: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)
        self.lock = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                name = self.path.rsplit("/", 1)[-1]
                with receiver.lock:
                    queued = receiver.answers[name]
                    status, headers = queued.pop(0) if queued else (201, {})
                    receiver.received[name].append(
                        Received(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body, status
                        )
                    )
                    receiver.lock.notify_all()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PushReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/push/{name}"

    def answer(self, name: str, *answers: int | tuple[int, dict[str, str]]) -> None:
        """The next answers to messages for `name` (then 201 Created)."""
        with self.lock:
            self.answers[name].extend(a if isinstance(a, tuple) else (a, {}) for a in answers)

    def wait(self, name: str, count: int, seconds: float = 10) -> list[Received]:
        """The first `count` messages for `name`, waiting for them to arrive."""
        deadline = time.monotonic() + timeout(seconds)
        with self.lock:
            while len(self.received[name]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(self.received[name])} of {count} messages for {name} arrived"
                    )
                self.lock.wait(left)
            return list(self.received[name])

    def taken(self, name: str) -> list[Received]:
        """The messages for `name` the receiver accepted (2xx)."""
        with self.lock:
            return [r for r in self.received[name] if 200 <= r.status < 300]
