"""The store: the append-only event log, plus the read models and records kept beside it.

A backend is a few small protocols, each used by the parts that need only it:

- `EventLog`: the log itself. Every committed event gets a `seq` one greater than the
  last, with no gaps, in commit order, whoever commits it (several processes, several
  machines); a write is committed durably before its commit returns. A reader that has
  seen `seq` N and reads "after N" never misses an event committed later with a smaller
  seq: seqs are handed out under the log's write lock, and each commit is visible before
  the next writer gets the lock.
- `Snapshots`: the projection saved now and then, so a start need not replay everything.
- `ReadModels`: alerts by id, history pages, intervals for statistics.
- `Issuers`: tokens and the audit log.
- `Pending`: declares waiting for a second person's confirmation.
- `Channels`: the channels' delivery state: leases and cursors over the log.
- `Webhooks` (store.webhooks): webhook subscriptions and their last delivery attempts.
- `TelegramChats`: the Telegram bot's subscribers.
- `PushSubscriptions`: the browsers that asked for Web Push notices, and their regions.
- `Transfer`: rows as they are, for `tryvoha migrate-store`.

Blocking is in the types. SQLite's write transaction runs on the event loop's thread (a
thread hand-off cost more than its statements) and its commit waits there for one fsync:
its methods are plain `def ..._blocking`. PostgreSQL's are coroutines. `WriteTransaction`
is the union of the two, told apart by `blocks_loop`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from tryvoha.domain.alerts import Alert, ThreatType
from tryvoha.domain.events import Event, PendingEvent, Seq
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Role
from tryvoha.store.webhooks import Webhooks


class StoreError(Exception):
    """The store cannot do what was asked (bad URL, unreadable file, schema from the future)."""


class TokenExistsError(StoreError):
    pass


class SchemaError(StoreError):
    """The store's schema is not the one this tryvoha needs (older, newer, or unmigrated)."""


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
    expires_at: datetime | None = None
    last_used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class PendingDeclare:
    """A declare waiting for a second person's confirmation (issue 15: two-person rule)."""

    id: str
    requester: str  # the token that asked
    body: bytes  # the declare as it came (JSON)
    oblasts: int  # how many oblast-level regions it touches
    created_at: datetime
    expires_at: datetime
    outcome: str | None = None  # confirmed | cancelled | expired
    decided_by: str | None = None
    decided_at: datetime | None = None
    seq: Seq | None = None  # of the declare's last event, once confirmed


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str | None = None  # a token's name (or "cli")
    since: datetime | None = None
    until: datetime | None = None
    denied: bool = False  # only refusals
    limit: int = 100


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


class _UnderTheLock(Protocol):
    """What a write transaction read after taking the log's write lock.

    The caller numbers the events it commits: the first is one after the last event of
    `tail` (or after the `after` given to begin_write when the tail is empty). A number
    already taken, or one that leaves a gap, fails the commit.
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


class LoopWriteTransaction(_UnderTheLock, Protocol):
    """A transaction whose statements run on the event loop's own thread (SQLite): the
    loop waits for them, and for the commit's fsync. Short: one commit at a time."""

    @property
    def blocks_loop(self) -> Literal[True]: ...

    def commit_blocking(
        self,
        events: Sequence[Event],
        remember: IdempotencyRecord | None,
        audit: Sequence[AuditEntry] = (),
    ) -> list[Committed]: ...

    def rollback_blocking(self) -> None: ...


class AsyncWriteTransaction(_UnderTheLock, Protocol):
    """A transaction whose statements are awaited (PostgreSQL): the loop serves meanwhile."""

    @property
    def blocks_loop(self) -> Literal[False]: ...

    async def commit(
        self,
        events: Sequence[Event],
        remember: IdempotencyRecord | None,
        audit: Sequence[AuditEntry] = (),
    ) -> list[Committed]: ...

    async def rollback(self) -> None: ...


WriteTransaction = LoopWriteTransaction | AsyncWriteTransaction


class EventLog(Protocol):
    async def last_seq(self) -> Seq: ...

    async def writable(self) -> bool:
        """The store answers and would take a write (not a read-only file or a standby):
        a writer's readiness (/readyz)."""

    async def read_events(self, after: Seq, limit: int) -> list[bytes]:
        """Up to `limit` events after `after`, in seq order: any range, from any process."""

    async def events_by_issuer(self, issuer: str, limit: int) -> list[bytes]:
        """The newest events this issuer wrote, newest first."""

    async def events_of_alerts(self, alert_ids: Sequence[str]) -> list[bytes]:
        """Every event of these alerts (declared, updated, cleared), in seq order; an id
        with no events adds nothing. Needs an index on (alert_id, seq)."""

    async def begin_write(
        self, after: Seq, principal: str | None = None, idempotency_key: str | None = None
    ) -> WriteTransaction:
        """Wait, without blocking the loop, for the log's write lock (held until the
        transaction ends), then read what was committed after `after`, the key's stored
        answer and whether the principal is active."""

    async def append_batch(self, events: Sequence[PendingEvent]) -> Seq:
        """Append in one transaction, under the write lock, numbered by the store (after
        whatever is there); the last seq."""


class Snapshots(Protocol):
    """Projection snapshots: a cache, the log stays the truth."""

    async def load_snapshot(self) -> tuple[Seq, bytes] | None: ...

    async def save_snapshot(self, seq: Seq, payload: bytes) -> None: ...


class ReadModels(Protocol):
    """Read models derived from the log in the same transaction as its events."""

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


class Issuers(Protocol):
    """Tokens (only their hashes) and the audit log. Every change to a token bumps the
    tokens' version, in the same transaction: a process that remembers tokens forgets
    them when the version moves."""

    async def create_token(
        self,
        name: str,
        role: Role,
        scope: Sequence[RegionId],
        token_hash: str,
        expires_at: datetime | None = None,
    ) -> TokenRecord: ...

    async def list_tokens(self) -> list[TokenRecord]: ...

    async def revoke_token(self, name: str) -> bool: ...

    async def rotate_token(
        self, name: str, new_hash: str, overlap_seconds: float
    ) -> TokenRecord | None:
        """A new secret for the token `name` (None: no such usable token); the old one
        keeps working for `overlap_seconds`, so whatever uses it can be changed over."""

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The token this secret's hash belongs to: its current secret, or an old one in
        its overlap."""

    async def touch_token(self, name: str) -> None:
        """Note that the token was used now (callers do it at most now and then)."""

    async def tokens_version(self) -> int: ...

    async def audit(self, entries: Sequence[AuditEntry]) -> None: ...

    async def read_audit(self, query: AuditQuery) -> list[AuditEntry]:
        """The newest entries first."""


class Pending(Protocol):
    """Declares that wait for a second person."""

    async def add_pending(self, pending: PendingDeclare, audit: AuditEntry) -> None: ...

    async def get_pending(self, pending_id: str) -> PendingDeclare | None: ...

    async def list_pending(self, limit: int) -> list[PendingDeclare]:
        """The newest first."""

    async def decide_pending(
        self, pending_id: str, outcome: str, by: str, seq: Seq | None, audit: AuditEntry
    ) -> bool:
        """Record how it ended, with its audit entry, only if it had not ended yet (one
        decision, whoever races): False, having changed nothing, otherwise."""


class Channels(Protocol):
    """Delivery state of the channels (webhooks, MQTT, Telegram, web push): which process
    delivers each one (a lease, so that one does at a time, on one box or many) and how
    far each destination has acknowledged the log (a cursor, a seq per name)."""

    async def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take the lease `name` for `holder`, or renew it, until `seconds` from now (the
        store's clock); False when another holder has it and it has not run out."""

    async def drop_lease(self, name: str, holder: str) -> None:
        """Give the lease up (if `holder` has it), so another can take it at once."""

    async def read_cursors(self, prefix: str) -> dict[str, Seq]:
        """Every cursor whose name starts with `prefix`."""

    async def move_cursors(self, moves: Mapping[str, Seq], lease: str, holder: str) -> bool:
        """Move each cursor forward to its seq (never back), all in one transaction, only
        while `holder` holds `lease` (fenced): False, having moved nothing, when it does
        not. A channel batches its moves: one commit for many deliveries."""

    async def drop_cursors(self, names: Sequence[str]) -> None:
        """Forget these cursors (a destination that was removed)."""


CHAT_CURSOR = "telegram:chat:"  # + a chat id: how far the bot has sent that chat


@dataclass(frozen=True, slots=True)
class ChatRecord:
    """A chat that follows a region through the Telegram bot."""

    chat_id: int
    region_id: RegionId
    lang: str
    cursor: Seq | None  # the last seq sent to it (None: only what the bot sends everyone)


class TelegramChats(Protocol):
    """The Telegram bot's subscribers (a person, or a group the bot was added to), each
    with its cursor (`CHAT_CURSOR` + its id) in `cursors`."""

    async def subscribe_chat(self, chat_id: int, region_id: RegionId, lang: str, seq: Seq) -> None:
        """Follow `region_id` in `lang` from now on: the chat's row, and its cursor moved
        to at least `seq` (what happened before is not sent), in one transaction."""

    async def set_chat_language(self, chat_id: int, lang: str) -> bool: ...

    async def unsubscribe_chat(self, chat_id: int) -> bool:
        """Forget the chat and its cursor; False when it was not subscribed."""

    async def get_chat(self, chat_id: int) -> ChatRecord | None: ...

    async def chats_after(self, after: int | None, limit: int) -> list[ChatRecord]:
        """Up to `limit` chats whose id is above `after` (None: from the first), in the
        order of their ids, each with its cursor: the bot reads its subscribers a page
        at a time, however many there are."""

    async def count_chats(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A browser's Web Push subscription: where its push service takes messages for it,
    the keys its messages are encrypted to, the regions it follows and the language its
    notices are written in. `since_seq`: it hears of events after this one only."""

    id: str  # derived from the endpoint: one subscription per browser
    endpoint: str
    p256dh: str  # the browser's public key (base64url, an uncompressed P-256 point)
    auth: str  # its authentication secret (base64url, 16 bytes)
    regions: tuple[RegionId, ...]
    lang: str
    since_seq: Seq
    created_at: datetime


class PushSubscriptions(Protocol):
    async def save_push_subscription(self, sub: PushSubscription, limit: int) -> PushSubscription:
        """Store it, or replace the one with the same id (its keys, regions and language;
        it keeps its since_seq and created_at); what is stored. StoreFullError, storing
        nothing, when it is new and `limit` subscriptions are stored already."""

    async def drop_push_subscription(self, sub_id: str) -> bool:
        """Forget it and its regions; False when there was none. (Its channel's cursor is
        the channel's to drop.)"""

    async def push_subscription(self, sub_id: str) -> PushSubscription | None: ...

    async def push_subscriptions_for(self, regions: Sequence[RegionId]) -> list[PushSubscription]:
        """Every subscription that follows one of these regions."""

    async def keep_meta(self, key: str, value: str) -> str:
        """The value stored under `key`, storing `value` first when there is none: the
        first of several processes to ask wins, and all get the same."""


class StoreFullError(StoreError):
    """A bounded record (push subscriptions) holds as many as it may."""


Row = tuple[Any, ...]

# The tables `Transfer` moves, each with its columns in the order rows carry them (both
# backends have the same columns: times as integer milliseconds, payloads as bytes).
TABLES: dict[str, tuple[str, ...]] = {
    "events": ("seq", "type", "at_ms", "alert_id", "region_id", "issuer", "payload"),
    "alerts": ("id", "region_id", "threat", "started_ms", "ended_ms", "issuer", "payload"),
    "tokens": (
        "id",
        "name",
        "role",
        "scope",
        "hash",
        "created_ms",
        "revoked_ms",
        "expires_ms",
        "last_used_ms",
    ),
    "token_overlap": ("hash", "token_id", "until_ms"),
    "pending": (
        "id",
        "requester",
        "body",
        "oblasts",
        "created_ms",
        "expires_ms",
        "outcome",
        "decided_by",
        "decided_ms",
        "seq",
    ),
    "audit": ("id", "at_ms", "actor", "action", "outcome", "detail"),
    "idempotency": ("principal", "key", "fingerprint", "status", "body", "created_ms"),
    "snapshots": ("seq", "payload", "created_ms"),
    "meta": ("key", "value"),
    "cursors": ("name", "seq", "updated_ms"),
    "webhooks": (
        "id",
        "url",
        "regions",
        "threats",
        "description",
        "secret",
        "state",
        "created_ms",
        "version",
        "replay_from",
        "delivered_seq",
        "delivered_ms",
        "last_error",
        "last_error_ms",
    ),
    "webhook_attempts": ("webhook_id", "n", "seq", "at_ms", "status", "duration_ms", "error"),
    "telegram_chats": ("chat_id", "region_id", "lang", "subscribed_ms"),
    "push_subscriptions": (
        "id",
        "endpoint",
        "p256dh",
        "auth",
        "lang",
        "since_seq",
        "created_ms",
        "updated_ms",
    ),
    "push_regions": ("region_id", "subscription_id"),
}
KEYS: dict[str, tuple[str, ...]] = {  # each table's rows are moved in the order of these
    "events": ("seq",),
    "alerts": ("id",),
    "tokens": ("id",),
    "token_overlap": ("hash",),
    "pending": ("id",),
    "audit": ("id",),
    "idempotency": ("principal", "key"),
    "snapshots": ("seq",),
    "meta": ("key",),
    "cursors": ("name",),
    "webhooks": ("id",),
    "webhook_attempts": ("webhook_id", "n"),
    "telegram_chats": ("chat_id",),
    "push_subscriptions": ("id",),
    "push_regions": ("region_id", "subscription_id"),
}


class Transfer(Protocol):
    """Rows as they are stored, for moving a whole store to another backend."""

    async def count_rows(self, table: str) -> int: ...

    async def export_rows(self, table: str, after: Row | None, limit: int) -> list[Row]:
        """Up to `limit` rows of `table` whose KEYS come after `after` (a key; None: from
        the start), in the order of their keys."""

    async def import_rows(self, table: str, rows: Sequence[Row]) -> None:
        """Write rows as they are, in one transaction (bulk: COPY, executemany). Events go
        in only after the last seq of the log, with no gap."""

    async def finish_import(self) -> None:
        """After the last import_rows: rebuild what a bulk load set aside (counters,
        indexes), so the store is as if it had been written one event at a time."""


class Store(
    EventLog,
    Snapshots,
    ReadModels,
    Issuers,
    Pending,
    Channels,
    Webhooks,
    TelegramChats,
    PushSubscriptions,
    Transfer,
    Protocol,
):
    url: str
    epoch: str  # the log's identity, set by open(): a replaced store has another

    async def open(self) -> None:
        """Connect; create the schema in a brand-new empty store; refuse (SchemaError) a
        store whose schema is older or newer than this tryvoha's."""

    async def close(self) -> None: ...
