"""One Web Push message to one browser: VAPID, encryption, the request, and what the
push service's answer means. The one module that knows pywebpush and py_vapid.

- Keys: the server's VAPID key pair is made on the first start and kept in the store's
  `meta` table, so every serving process, on every machine, signs with the same key
  (browsers subscribed with its public half). The private key is never printed or logged.
- Encryption: RFC 8291 (aes128gcm) to the browser's keys, by pywebpush's `WebPusher`.
- VAPID (RFC 8292): a JWT for each push service's origin, signed by py_vapid, kept and
  reused for an hour of its 12.
- The request goes to an address checked by the safe-target rule (`targets.py`), pinned:
  the host is resolved, every address checked, and the connection made to the checked
  one (TLS still verifies the push service's name).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx

from tryvoha.channels.targets import UnsafeTargetError, check_address, check_target
from tryvoha.store.base import PushSubscription, PushSubscriptions

VAPID_META_KEY = "push.vapid_private_key"
JWT_SECONDS = 12 * 3600
JWT_RENEW_SECONDS = 3600  # a JWT is signed again after this
RESOLVE_SECONDS = 60.0  # a host's resolved addresses are reused this long
MAX_RETRY_AFTER_SECONDS = 600.0


class VapidKeys:
    """The server's VAPID key pair (py_vapid), with its public key as browsers take it."""

    def __init__(self, private_pem: str) -> None:
        from py_vapid import Vapid02

        self._vapid = Vapid02.from_pem(private_pem.encode())
        raw = self._vapid.public_key.public_bytes(_x962(), _uncompressed())
        self.public_key = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def __repr__(self) -> str:
        return f"VapidKeys(public_key={self.public_key!r})"  # never the private key

    def sign(self, claims: dict[str, Any]) -> dict[str, str]:
        headers: dict[str, str] = self._vapid.sign(claims)
        return headers


def _x962() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.X962


def _uncompressed() -> Any:
    from cryptography.hazmat.primitives.serialization import PublicFormat

    return PublicFormat.UncompressedPoint


def new_private_pem() -> str:
    from py_vapid import Vapid02

    vapid = Vapid02()
    vapid.generate_keys()
    pem: bytes = vapid.private_pem()
    return pem.decode()


async def load_keys(store: PushSubscriptions) -> VapidKeys:
    """The store's VAPID keys, made now when it has none (the first process wins)."""
    return VapidKeys(await store.keep_meta(VAPID_META_KEY, new_private_pem()))


class Outcome(StrEnum):
    SENT = "sent"
    GONE = "gone"  # 404/410: the browser unsubscribed; forget the subscription
    RETRY = "retry"  # 429, 5xx, no answer: try again later
    FAILED = "failed"  # another refusal: this notice will never be taken


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    status: int | None = None
    retry_after: float | None = None  # seconds, when the push service said
    reason: str = ""


class PushSender:
    def __init__(
        self,
        keys: VapidKeys,
        contact: str,
        *,
        ttl_seconds: int,
        allow_private: bool = False,
        connections: int = 32,
        timeout_seconds: float = 10.0,
    ) -> None:
        from pywebpush import WebPusher

        # httpx logs every request with its URL at INFO: an endpoint is a secret address
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._pusher = WebPusher
        self.keys = keys
        self.contact = contact
        self.ttl_seconds = ttl_seconds
        self.allow_private = allow_private
        self._jwts: dict[str, tuple[float, dict[str, str]]] = {}
        self._addresses: dict[tuple[str, int], tuple[float, str]] = {}
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            follow_redirects=False,
            trust_env=False,
        )

    async def close(self) -> None:
        await self.client.aclose()

    def encrypt(self, sub: PushSubscription, notice: bytes) -> bytes:
        info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        body: bytes = self._pusher(info).encode(notice, "aes128gcm")["body"]
        return body

    def vapid_headers(self, origin: str, now: float) -> dict[str, str]:
        kept = self._jwts.get(origin)
        if kept is None or kept[0] <= now:
            claims = {"aud": origin, "exp": int(now) + JWT_SECONDS, "sub": self.contact}
            kept = self._jwts[origin] = (now + JWT_RENEW_SECONDS, self.keys.sign(claims))
        return kept[1]

    async def address(self, host: str, port: int) -> str:
        """A checked address of `host` (resolved at most once a minute)."""
        now = time.monotonic()
        kept = self._addresses.get((host, port))
        if kept is not None and kept[0] > now:
            return kept[1]
        found = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        addresses = [str(info[4][0]) for info in found]
        if not addresses:
            raise UnsafeTargetError(f"'{host}' resolves to no address")
        for address in addresses:
            check_address(address, allow_private=self.allow_private)
        self._addresses[(host, port)] = (now + RESOLVE_SECONDS, addresses[0])
        return addresses[0]

    async def send(self, sub: PushSubscription, notice: bytes, urgent: bool) -> Result:
        try:
            parts = check_target(sub.endpoint, allow_private=self.allow_private)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme == "https" else 80)
            address = await self.address(host, port)
        except UnsafeTargetError as e:
            return Result(Outcome.GONE, reason=f"unsafe endpoint: {e}")
        except OSError as e:  # the name does not resolve, now
            return Result(Outcome.RETRY, reason=f"cannot resolve {host}: {e}")
        origin = f"{parts.scheme}://{parts.netloc}"
        shown = f"[{address}]" if ":" in address else address
        target = f"{parts.scheme}://{shown}:{port}{parts.path or '/'}"
        if parts.query:
            target += f"?{parts.query}"
        headers = {
            "Host": parts.netloc,
            "Content-Type": "application/octet-stream",
            "Content-Encoding": "aes128gcm",
            "TTL": str(self.ttl_seconds),
            "Urgency": "high" if urgent else "normal",
            **self.vapid_headers(origin, time.time()),
        }
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        try:
            answer = await self.client.post(
                target,
                content=self.encrypt(sub, notice),
                headers=headers,
                extensions=extensions,
            )
        except httpx.HTTPError as e:
            return Result(Outcome.RETRY, reason=f"{type(e).__name__}: {e}")
        return judge(answer)


def judge(answer: httpx.Response) -> Result:
    """What a push service's answer means for the subscription and the notice."""
    status = answer.status_code
    if 200 <= status < 300:
        return Result(Outcome.SENT, status)
    if status in (404, 410):
        return Result(Outcome.GONE, status, reason="the push service no longer knows it")
    if status == 429 or status >= 500:
        return Result(
            Outcome.RETRY,
            status,
            retry_after(answer.headers.get("retry-after")),
            answer.reason_phrase,
        )
    return Result(Outcome.FAILED, status, reason=f"{status} {answer.text[:200]}")


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds (delay-seconds or an HTTP date), at most 10 minutes."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return min(max(when - (now if now is not None else time.time()), 0.0), MAX_RETRY_AFTER_SECONDS)


def check_keys(p256dh: str, auth: str) -> None:
    """ValueError unless these are a browser's push keys: a P-256 public key (65 bytes,
    uncompressed, on the curve) and a 16-byte secret, both base64url."""
    from cryptography.hazmat.primitives.asymmetric import ec

    point = _b64url(p256dh, "keys.p256dh")
    if len(point) != 65 or point[0] != 4:
        raise ValueError("keys.p256dh: not an uncompressed P-256 public key (65 bytes)")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise ValueError("keys.p256dh: not a point on P-256") from None
    if len(_b64url(auth, "keys.auth")) != 16:
        raise ValueError("keys.auth: not a 16-byte secret")


def _b64url(text: str, name: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise ValueError(f"{name}: not base64url") from None
