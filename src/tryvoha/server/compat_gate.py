"""Who may read the compatible APIs, and how often: one check for every path that serves them.

Any valid token is a key (a `reader` token is made for just this). The check finds the
token (engine/auth.py), then takes one request from the key's bucket for that API
(server/ratelimit.py). A refusal says why in the original's status code: 401 for no
key, an unknown or a revoked one; 429 with Retry-After when the key is over its limit,
never a disguised 401. The body is each API's error form: alerts.in.ua's
`{"message": ...}`, and for ukrainealarm (an ASP.NET service) problem+json.
"""

from __future__ import annotations

from enum import StrEnum

import orjson

from tryvoha.config import Settings
from tryvoha.domain.scope import Principal
from tryvoha.engine.auth import Authenticator, AuthError
from tryvoha.protocol.compat_alerts_in_ua import error_body
from tryvoha.server.problems import CATALOGUE, PROBLEM_TYPE
from tryvoha.server.ratelimit import RateLimiter, retry_after

JSON_TYPE = "application/json"


class Bucket(StrEnum):
    """What a request is counted against."""

    ALERTS_IN_UA = "alerts_in_ua"
    ALERTS_IN_UA_HISTORY = "alerts_in_ua_history"
    UKRAINEALARM = "ukrainealarm"


class Api(StrEnum):
    ALERTS_IN_UA = "alerts_in_ua"
    UKRAINEALARM = "ukrainealarm"


class Refusal(Exception):
    def __init__(
        self, status: int, code: str, detail: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code  # from the problem catalogue
        self.detail = detail
        self.headers = headers

    def render(self, api: Api, path: str) -> tuple[bytes, str]:
        """(body, media type) in the API's own error form."""
        if api is Api.ALERTS_IN_UA:
            return error_body(self.detail, self.code), JSON_TYPE
        body = {
            "type": f"/api/v1/problems#{self.code}",
            "title": CATALOGUE[self.code][1],
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            "instance": path,
        }
        return orjson.dumps(body), PROBLEM_TYPE


class Gate:
    def __init__(self, authenticate: Authenticator, settings: Settings) -> None:
        self.authenticate = authenticate
        keys = settings.rate_limit_keys
        self.limiters = {
            Bucket.ALERTS_IN_UA: RateLimiter(settings.alerts_in_ua_rate_limit, keys),
            Bucket.ALERTS_IN_UA_HISTORY: RateLimiter(
                settings.alerts_in_ua_history_rate_limit, keys
            ),
            Bucket.UKRAINEALARM: RateLimiter(settings.ukrainealarm_rate_limit, keys),
        }

    def admit_known(self, bucket: Bucket, key: str | None) -> Principal | None:
        """As `admit`, without waiting: None when the key must be looked up first."""
        if not key:
            raise _no_key()
        principal = self.authenticate.known_key(key)
        return None if principal is None else self._count(bucket, principal)

    async def admit(self, bucket: Bucket, key: str | None) -> Principal:
        """The key's principal, having counted this request; else raises Refusal."""
        if not key:
            raise _no_key()
        try:
            principal = await self.authenticate.key(key)
        except AuthError as e:
            raise Refusal(401, "unauthorized", f"the API key is not valid: {e.detail}") from None
        return self._count(bucket, principal)

    def _count(self, bucket: Bucket, principal: Principal) -> Principal:
        wait = self.limiters[bucket].take(principal.name)
        if wait > 0:
            limit = self.limiters[bucket].rate
            seconds = retry_after(wait)
            raise Refusal(
                429,
                "rate_limited",
                f"key '{principal.name}' is over its limit of {limit.count} requests per "
                f"{limit.seconds:g} s here; retry after {seconds} s",
                (("Retry-After", seconds),),
            )
        return principal


def _no_key() -> Refusal:
    return Refusal(
        401, "unauthorized", "an API key is needed: any tryvoha token (see docs/compat.md)"
    )


def alerts_in_ua_key(authorization: str | None, token: str | None) -> str | None:
    """alerts.in.ua takes the key as `Authorization: Bearer <key>` or `?token=<key>`."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() or None
        return None  # some other scheme: not a key of this API
    return token or None


def ukrainealarm_key(authorization: str | None) -> str | None:
    """ukrainealarm takes the key as the whole Authorization header (a Bearer prefix is
    accepted too)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return authorization.strip() or None
