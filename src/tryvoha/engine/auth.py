"""Issuers' tokens: made once, shown once, stored only as a hash."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.domain.scope import Principal, Role
from tryvoha.store.base import Store, TokenRecord

TOKEN_PREFIX = "tv_"


class AuthError(Exception):
    """No usable credentials: missing, malformed, unknown or revoked token."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    record: TokenRecord
    secret: str


async def issue_token(
    store: Store, tree: RegionTree, name: str, role: Role, scope: Sequence[str]
) -> IssuedToken:
    """Create a token; scope entries may be ids or unique region names. A reader token
    writes nothing, so its scope may be empty."""
    if not name.strip():
        raise ValueError("a token needs a name")
    regions = [tree.resolve(s.strip()).id for s in scope if s.strip()]
    if not regions and role.may_write:
        raise ValueError("a token needs a scope: one region id or more (UA for the whole country)")
    secret = new_token()
    record = await store.create_token(
        name.strip(), role, list(dict.fromkeys(regions)), hash_token(secret)
    )
    return IssuedToken(record, secret)


class Authenticator:
    """The principal behind an `Authorization: Bearer <token>` header.

    Known tokens are remembered for CACHE_SECONDS, sparing a store read per request. A
    write does not rely on that: its transaction checks again that the token is not
    revoked (see Engine.execute), so a revoked token's next write is refused."""

    CACHE_SECONDS = 5.0

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self._known: dict[str, tuple[float, Principal]] = {}
        self._lookups: dict[str, asyncio.Future[Principal]] = {}

    async def __call__(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthError("this write needs a token: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("the Authorization header must be 'Bearer <token>'")
        return await self.key(token)

    def known_key(self, token: str) -> Principal | None:
        """The principal behind a key if it was looked up lately; None: look it up."""
        known = self._known.get(hash_token(token)) if token else None
        if known is not None and self.clock() - known[0] < self.CACHE_SECONDS:
            return known[1]
        return None

    async def key(self, token: str) -> Principal:
        """The principal behind a token given as it is (an API key of the compatible APIs)."""
        if not token:
            raise AuthError("no API key was given")
        token_hash = hash_token(token)
        known = self._known.get(token_hash)
        if known is not None and self.clock() - known[0] < self.CACHE_SECONDS:
            return known[1]
        # One store read per token at a time: when a poller's key expires from memory,
        # its many concurrent requests wait for the same read instead of each making one.
        lookup = self._lookups.get(token_hash)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup(token_hash))
            self._lookups[token_hash] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(token_hash, None))
        return await asyncio.shield(lookup)

    async def _lookup(self, token_hash: str) -> Principal:
        record = await self.store.token_by_hash(token_hash)
        if record is None:
            raise AuthError("the token is not known")
        if record.revoked_at is not None:
            self._known.pop(token_hash, None)
            raise AuthError(f"the token '{record.name}' was revoked")
        principal = Principal(record.name, record.role, tuple(RegionId(r) for r in record.scope))
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[token_hash] = (self.clock(), principal)
        return principal
