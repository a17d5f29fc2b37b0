"""Issuers' tokens: made once, shown once, stored only as a hash."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.domain.scope import Principal, Role
from tryvoha.store.base import Store, TokenRecord

log = logging.getLogger(__name__)

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
    store: Store,
    tree: RegionTree,
    name: str,
    role: Role,
    scope: Sequence[str],
    expires_at: datetime | None = None,
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
        name.strip(), role, list(dict.fromkeys(regions)), hash_token(secret), expires_at
    )
    return IssuedToken(record, secret)


async def rotate_token(store: Store, name: str, overlap_seconds: float) -> IssuedToken | None:
    """A new secret for a token; the old one works for `overlap_seconds` more."""
    secret = new_token()
    record = await store.rotate_token(name, hash_token(secret), overlap_seconds)
    return None if record is None else IssuedToken(record, secret)


class Authenticator:
    """The principal behind a token: an `Authorization: Bearer <token>` header, or an API
    key of the compatible APIs.

    Known tokens are remembered for CACHE_SECONDS, sparing a store read per request, and
    forgotten at once when the store says any token changed (`watch`, a read of one
    number every WATCH_SECONDS): a revoked token stops working everywhere within that.
    Requests that must not rely on memory at all (the API's own authenticated reads) ask
    with `fresh=True`, and a write checks again under the log's write lock whatever was
    remembered (see Engine.execute). When a token was last used is noted at most every
    TOUCH_SECONDS."""

    CACHE_SECONDS = 5.0
    WATCH_SECONDS = 0.25
    TOUCH_SECONDS = 60.0

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self._known: dict[str, tuple[float, Principal]] = {}
        self._lookups: dict[str, asyncio.Future[Principal]] = {}
        self._touched: dict[str, float] = {}
        self._version: int | None = None
        self._watch: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._watch = asyncio.get_running_loop().create_task(self._watching())

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    async def _watching(self) -> None:
        while True:
            try:
                version = await self.store.tokens_version()
                if version != self._version:
                    self._version = version
                    self._known.clear()
            except Exception:
                log.exception("could not read the tokens' version")
            await asyncio.sleep(self.WATCH_SECONDS)

    async def __call__(self, authorization: str | None, *, fresh: bool = False) -> Principal:
        if not authorization:
            raise AuthError("this needs a token: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("the Authorization header must be 'Bearer <token>'")
        return await self.key(token, fresh=fresh)

    def known_key(self, token: str) -> Principal | None:
        """The principal behind a key if it was looked up lately; None: look it up."""
        known = self._known.get(hash_token(token)) if token else None
        if known is not None and self.clock() - known[0] < self.CACHE_SECONDS:
            self._touch(known[1].name)
            return known[1]
        return None

    async def key(self, token: str, *, fresh: bool = False) -> Principal:
        """The principal behind a token given as it is (an API key of the compatible APIs)."""
        if not token:
            raise AuthError("no API key was given")
        token_hash = hash_token(token)
        known = self._known.get(token_hash)
        if not fresh and known is not None and self.clock() - known[0] < self.CACHE_SECONDS:
            self._touch(known[1].name)
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
            self._known.pop(token_hash, None)
            raise AuthError("the token is not known")
        now = datetime.now(UTC)
        if not record.usable(now):
            self._known.pop(token_hash, None)
            ended = "was revoked" if record.revoked_at is not None else "has expired"
            raise AuthError(f"the token '{record.name}' {ended}")
        principal = Principal(record.name, record.role, tuple(RegionId(r) for r in record.scope))
        if len(self._known) > 10_000:
            self._known.clear()
        if (
            record.expires_at is None
            or (record.expires_at - now).total_seconds() > self.CACHE_SECONDS
        ):
            self._known[token_hash] = (self.clock(), principal)  # never past its expiry
        self._touch(record.name)
        return principal

    def _touch(self, name: str) -> None:
        now = self.clock()
        if now - self._touched.get(name, -self.TOUCH_SECONDS) < self.TOUCH_SECONDS:
            return
        if len(self._touched) > 10_000:
            self._touched.clear()
        self._touched[name] = now
        task = asyncio.get_running_loop().create_task(self.store.touch_token(name))
        task.add_done_callback(_quietly)


def _quietly(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not note when a token was used: %s", task.exception())
