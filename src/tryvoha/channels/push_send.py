"""One Web Push message to one browser: VAPID, encryption, the request, and what the
push service's answer means. The one module that knows pywebpush and py_vapid.

- Keys: the server's VAPID key pair is made on the first start and kept in the store's
  `meta` table, so every serving process, on every machine, signs with the same key
  (browsers subscribed with its public half). The private key is never printed or logged.
- Encryption: RFC 8291 (aes128gcm) to the browser's keys, by pywebpush's `WebPusher`.
- VAPID (RFC 8292): a JWT for each push service's origin, signed by py_vapid, kept and
  reused for an hour of its 12.
- The request goes only to an address checked by the safe-target rule (`targets.py`):
  the URL when the browser subscribes and again before each send, and every address its
  host resolves to in the resolver of the connection itself.
"""

from __future__ import annotations

import base64
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from tryvoha.channels.targets import UnsafeTargetError, check_address, check_target
from tryvoha.store.base import PushSubscription, PushSubscriptions

VAPID_META_KEY = "push.vapid_private_key"
JWT_SECONDS = 12 * 3600
JWT_RENEW_SECONDS = 3600  # a JWT is signed again after this
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


class UnsafeAddressError(OSError):
    """A push service's name resolved to an address the server may not send to."""


class CheckedResolver:
    """aiohttp's resolver, with every address it finds checked by the safe-target rule:
    the connection can only go to a checked address (no check-then-resolve-again gap)."""

    def __init__(self, allow_private: bool) -> None:
        from aiohttp.resolver import DefaultResolver

        self.allow_private = allow_private
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        found: list[Any] = await self._inner.resolve(host, port, family)
        for result in found:
            try:
                check_address(result["host"], allow_private=self.allow_private)
            except UnsafeTargetError as e:
                raise UnsafeAddressError(f"{host}: {e}") from None
        return found

    async def close(self) -> None:
        await self._inner.close()


class PushSender:
    """Sends through pywebpush's own path (`WebPusher.send_async`, on an aiohttp session
    whose resolver keeps the safe-target rule). aiohttp, not httpx: measured on loopback
    at 32 requests at a time, httpx made 150-190 POSTs a second and aiohttp 3,000-5,600
    (bench/push.py), and here every message is one request."""

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
        import aiohttp
        from pywebpush import WebPusher

        self._pusher = WebPusher
        self.keys = keys
        self.contact = contact
        self.ttl_seconds = ttl_seconds
        self.allow_private = allow_private
        self._jwts: dict[str, tuple[float, dict[str, str]]] = {}
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_seconds, connect=min(5.0, timeout_seconds)
        )
        connector = aiohttp.TCPConnector(
            limit=connections,
            resolver=CheckedResolver(allow_private),  # type: ignore[arg-type]  # duck-typed
            ttl_dns_cache=60,
        )
        self.session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, trust_env=False
        )

    async def close(self) -> None:
        await self.session.close()

    def encrypt(self, sub: PushSubscription, notice: bytes) -> bytes:
        body: bytes = self._pusher(_info(sub)).encode(notice, "aes128gcm")["body"]
        return body

    def vapid_headers(self, origin: str, now: float) -> dict[str, str]:
        kept = self._jwts.get(origin)
        if kept is None or kept[0] <= now:
            claims = {"aud": origin, "exp": int(now) + JWT_SECONDS, "sub": self.contact}
            kept = self._jwts[origin] = (now + JWT_RENEW_SECONDS, self.keys.sign(claims))
        return kept[1]

    async def send(self, sub: PushSubscription, notice: bytes, urgent: bool) -> Result:
        import aiohttp

        try:
            parts = check_target(sub.endpoint, allow_private=self.allow_private)
        except UnsafeTargetError as e:
            return Result(Outcome.GONE, reason=f"unsafe endpoint: {e}")
        headers = {
            "Urgency": "high" if urgent else "normal",
            **self.vapid_headers(f"{parts.scheme}://{parts.netloc}", time.time()),
        }
        pusher = self._pusher(_info(sub), aiohttp_session=self.session)
        try:
            answer = await pusher.send_async(
                notice,
                headers,
                ttl=self.ttl_seconds,
                content_encoding="aes128gcm",
                timeout=self._timeout,
            )
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, UnsafeAddressError):
                return Result(Outcome.GONE, reason=f"unsafe endpoint: {e.os_error}")
            return Result(Outcome.RETRY, reason=f"cannot connect: {e.os_error}")
        except (aiohttp.ClientError, TimeoutError) as e:
            return Result(Outcome.RETRY, reason=f"{type(e).__name__}: {e}")
        return judge(answer.status, answer.headers.get("Retry-After"), answer.reason or "")


def _info(sub: PushSubscription) -> dict[str, Any]:
    return {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}


def judge(status: int, retry_after_header: str | None = None, reason: str = "") -> Result:
    """What a push service's answer means for the subscription and the notice."""
    if 200 <= status < 300:
        return Result(Outcome.SENT, status)
    if status in (404, 410):
        return Result(Outcome.GONE, status, reason="the push service no longer knows it")
    if status == 429 or status >= 500:
        return Result(Outcome.RETRY, status, retry_after(retry_after_header), reason)
    return Result(Outcome.FAILED, status, reason=f"{status} {reason}")


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
