"""The store: the append-only event log, plus the read models and records derived beside it.

A backend implements `Store`. Its log gives every committed event a `seq` one greater than
the last, with no gaps, in commit order; a write is committed durably before `commit`
returns. SQLite is the embedded default; PostgreSQL plugs in behind the same protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tryvoha.domain.alerts import Alert, ThreatType
from tryvoha.domain.events import Event, PendingEvent, Seq
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Role


class StoreError(Exception):
    """The store cannot do what was asked (bad URL, unreadable file, schema from the future)."""


class TokenExistsError(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class Committed:
    """An event with its place in the log and its encoded form (the bytes every stream sends)."""

    event: Event
    raw: bytes


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    principal: str
    key: str
    fingerprint: str  # hash of method, path and body: a key is bound to its first request
    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    name: str
    role: Role
    scope: tuple[RegionId, ...]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    outcome: str
    detail: str


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    regions: frozenset[RegionId] | None = None  # None: every region
    threat: ThreatType | None = None
    since: datetime | None = None  # alerts still active at or after this moment
    until: datetime | None = None  # alerts started before this moment
    issuer: str | None = None  # only alerts this issuer declared
    cursor: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class HistoryPage:
    alerts: list[Alert]
    next_cursor: str | None


class WriteTransaction(Protocol):
    """Holds the log's write lock from `begin_write` until `commit` or `rollback`.

    The caller numbers the events it commits: the first is one after the last event of
    `tail` (or after `after` when the tail is empty). A number already taken fails the
    commit, so the log never has a gap or a duplicate.
    """

    @property
    def tail(self) -> Sequence[bytes]:
        """Events committed (by any process) after the `after` given to begin_write."""

    @property
    def prior_answer(self) -> IdempotencyRecord | None:
        """The stored answer for the idempotency key given to begin_write, if any."""

    @property
    def principal_active(self) -> bool:
        """Whether the token named `principal` exists and is not revoked, read under the
        write lock (a revocation committed before it is seen)."""

    async def commit(
        self,
        events: Sequence[Event],
        remember: IdempotencyRecord | None,
        audit: Sequence[AuditEntry] = (),
    ) -> list[Committed]: ...

    async def rollback(self) -> None: ...


class Store(Protocol):
    url: str
    epoch: str  # the log's identity, set by open(): a replaced store has another

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # the log
    async def last_seq(self) -> Seq: ...

    async def read_events(self, after: Seq, limit: int) -> list[bytes]: ...

    async def events_by_issuer(self, issuer: str, limit: int) -> list[bytes]:
        """The newest events this issuer wrote, newest first."""

    async def events_of_alerts(self, alert_ids: Sequence[str]) -> list[bytes]:
        """Every event of these alerts (declared, updated, cleared), in seq order; an id
        with no events adds nothing. Needs an index on (alert_id, seq)."""

    async def begin_write(
        self, after: Seq, principal: str | None = None, idempotency_key: str | None = None
    ) -> WriteTransaction: ...

    async def append_batch(self, events: Sequence[PendingEvent]) -> Seq:
        """Bulk append for imports: one transaction, seqs given by the store; the last seq."""

    # projection snapshots (a cache: the log stays the truth)
    async def load_snapshot(self) -> tuple[Seq, bytes] | None: ...

    async def save_snapshot(self, seq: Seq, payload: bytes) -> None: ...

    # read models derived from the log
    async def get_alert(self, alert_id: str) -> Alert | None: ...

    async def alert_history(self, query: HistoryQuery) -> HistoryPage: ...

    async def alert_intervals(
        self,
        regions: frozenset[RegionId] | None,
        threat: ThreatType | None,
        since: datetime | None,
        until: datetime | None,
    ) -> list[tuple[RegionId, datetime, datetime | None]]: ...

    async def has_alert_ids(self, alert_ids: Sequence[str]) -> set[str]: ...

    async def alert_span(self, issuer: str) -> tuple[datetime, datetime | None] | None:
        """When this issuer's alerts begin and end: the first start and the last end
        (None while one is active); None when it has no alerts."""

    # issuers
    async def create_token(
        self, name: str, role: Role, scope: Sequence[RegionId], token_hash: str
    ) -> TokenRecord: ...

    async def list_tokens(self) -> list[TokenRecord]: ...

    async def revoke_token(self, name: str) -> bool: ...

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None: ...

    async def audit(self, entries: Sequence[AuditEntry]) -> None: ...

    async def read_audit(self, actor: str | None, limit: int) -> list[AuditEntry]: ...
