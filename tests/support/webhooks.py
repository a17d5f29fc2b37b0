"""A real webhook receiver for the tests: an HTTP server on loopback, in a thread of its
own, that verifies every request's signature with the `standardwebhooks` package and
behaves as told: accepts, fails with 500, answers too late, says 410 Gone, or is down
(its port refuses connections) and comes back on the same port.

It counts a request as received only when it accepts it (a 2xx), as a real receiver that
stores what it got would; one it answered too late is received too (the sender retries
it: a repeat the receiver recognises by its `webhook-id`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, ThreatType
from tryvoha.domain.events import EventType, PendingEvent
from tryvoha.domain.regions import RegionId

T0 = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)


def declare_events(
    n: int,
    region: str = "UA46000000000026241",
    threat: ThreatType = ThreatType.AIR_RAID,
    issuer: str = "t",
    start: int = 0,
) -> list[PendingEvent]:
    """n declares (new alerts) on one region, as the store's append_batch takes them."""
    out = []
    for i in range(start, start + n):
        at = T0 + timedelta(minutes=i)
        alert = Alert(
            AlertId(f"a-{region[-4:]}-{threat.value}-{i}"),
            RegionId(region),
            threat,
            AlertLevel.RED,
            (),
            None,
            at,
            at,
            None,
            issuer,
        )
        out.append(PendingEvent(EventType.DECLARED, at, issuer, alert))
    return out


def clear_of(event: PendingEvent) -> PendingEvent:
    return PendingEvent(
        EventType.CLEARED, event.at, event.issuer, replace(event.alert, ended_at=event.at)
    )


@dataclass(frozen=True, slots=True)
class Received:
    msg_id: str
    seq: int
    type: str
    body: dict[str, Any]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a sender killed mid-request resets its connection: that is the test


class Receiver:
    """Modes: ok, fail (500), slow (answers after `slow_seconds`), gone (410), redirect
    (307 to `redirect_to`)."""

    def __init__(self, secret: str = "", path: str = "/hook") -> None:
        self.secret = secret
        self.path = path
        self.mode = "ok"
        self.slow_seconds = 2.0
        self.delay_seconds = 0.0  # before every answer, in any mode
        self.redirect_to = ""
        self.lock = threading.Lock()
        self.received: list[Received] = []  # accepted, in the order they came
        self.requests = 0  # every request, accepted or not
        self.bad_signatures: list[str] = []
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> Receiver:
        """Listen (again, on the same port once it has one)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(receiver.take(body, dict(self.headers.items())))
                if receiver.mode == "redirect":
                    self.send_header("location", receiver.redirect_to)
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections until `start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def take(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            self.requests += 1
            mode = self.mode
        time.sleep(self.slow_seconds if mode == "slow" else self.delay_seconds)
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as e:
            with self.lock:
                self.bad_signatures.append(str(e))
            return 400
        if mode == "fail":
            return 500
        if mode == "gone":
            return 410
        if mode == "redirect":
            return 307
        data = orjson.loads(body)
        lowered = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            self.received.append(Received(lowered["webhook-id"], data["seq"], data["type"], data))
        return 204

    def first_seen(self) -> list[int]:
        """Seqs of accepted events, each once (deduplicated by webhook-id), in arrival order."""
        seen: set[str] = set()
        out = []
        with self.lock:
            for r in self.received:
                if r.msg_id not in seen:
                    seen.add(r.msg_id)
                    out.append(r.seq)
        return out

    def ids(self) -> dict[int, set[str]]:
        """The webhook-ids each seq came with."""
        found: dict[int, set[str]] = {}
        with self.lock:
            for r in self.received:
                found.setdefault(r.seq, set()).add(r.msg_id)
        return found

    def count(self, seq: int) -> int:
        with self.lock:
            return sum(1 for r in self.received if r.seq == seq)
