"""What both backends store, row by row: the encoding of events, and the queries they share.

The two backends hold the same tables with the same columns (times as integer
milliseconds since 1970, payloads as bytes), so an event's bytes are made once, here, and
a row read from one store can be written to the other as it is. The queries differ only
in how parameters are written (`?` for SQLite, `$1` for PostgreSQL): `Params` writes them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.events import Event, Seq
from tryvoha.domain.regions import RegionId
from tryvoha.domain.scope import Role
from tryvoha.protocol.wire import alert_from_json, event_to_json
from tryvoha.store.base import (
    KEYS,
    TABLES,
    AuditQuery,
    ChatRecord,
    Committed,
    HistoryPage,
    HistoryQuery,
    PendingDeclare,
    PushSubscription,
    Row,
    TokenRecord,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // MILLISECOND


def from_ms(ms: int) -> datetime:
    return EPOCH + ms * MILLISECOND


def now_ms() -> int:
    return to_ms(datetime.now(UTC))


def encode(events: Sequence[Event]) -> tuple[list[Committed], list[Row], list[Row]]:
    """The events' bytes, and their rows in `events` and `alerts` (one row per alert: the
    state after the last of these events that touched it)."""
    committed: list[Committed] = []
    event_rows: list[Row] = []
    last: dict[str, tuple[Event, dict[str, Any]]] = {}  # per alert: its last event here
    for event in events:
        data = event_to_json(event)
        raw = orjson.dumps(data)
        alert = event.alert
        event_rows.append(
            (
                event.seq,
                event.type.value,
                to_ms(event.at),
                alert.id,
                alert.region_id,
                event.issuer,
                raw,
            )
        )
        last[alert.id] = (event, data["alert"])
        committed.append(Committed(event, raw))
    alert_rows: list[Row] = [
        (
            a.id,
            a.region_id,
            a.threat._value_,
            to_ms(a.started_at),
            None if a.ended_at is None else to_ms(a.ended_at),
            a.issuer,
            orjson.dumps(data),
        )
        for a, data in ((e.alert, data) for e, data in last.values())
    ]
    return committed, event_rows, alert_rows


TOKEN_COLUMNS = (
    "t.id, t.name, t.role, t.scope, t.created_ms, t.revoked_ms, t.expires_ms, t.last_used_ms"
)


def token_row(row: Sequence[Any]) -> TokenRecord:
    """TOKEN_COLUMNS."""
    scope = tuple(RegionId(s) for s in row[3].split(",") if s)
    return TokenRecord(
        int(row[0]),
        row[1],
        Role(row[2]),
        scope,
        from_ms(row[4]),
        None if row[5] is None else from_ms(row[5]),
        None if row[6] is None else from_ms(row[6]),
        None if row[7] is None else from_ms(row[7]),
    )


TOKEN_BY_HASH = (
    f"SELECT {TOKEN_COLUMNS} FROM tokens AS t WHERE t.hash = {{hash}}"
    f" UNION ALL SELECT {TOKEN_COLUMNS} FROM token_overlap AS o"
    " JOIN tokens AS t ON t.id = o.token_id WHERE o.hash = {hash2} AND o.until_ms > {now}"
)
BUMP_TOKENS = (
    "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'tokens_version'"
)
USABLE = "revoked_ms IS NULL AND (expires_ms IS NULL OR expires_ms > {now})"


def audit_query(query: AuditQuery, style: Literal["qmark", "numeric"]) -> tuple[str, list[Any]]:
    params = Params(style)
    where = []
    if query.actor is not None:
        where.append(f"actor = {params(query.actor)}")
    if query.since is not None:
        where.append(f"at_ms >= {params(to_ms(query.since))}")
    if query.until is not None:
        where.append(f"at_ms < {params(to_ms(query.until))}")
    if query.denied:
        where.append("outcome = 'denied'")
    text = "SELECT at_ms, actor, action, outcome, detail FROM audit"
    if where:
        text += " WHERE " + " AND ".join(where)
    return text + f" ORDER BY id DESC LIMIT {params(query.limit)}", params.values


class Params:
    """Parameters of one statement, written the backend's way."""

    def __init__(self, style: Literal["qmark", "numeric"]) -> None:
        self.style = style
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return "?" if self.style == "qmark" else f"${len(self.values)}"

    def one_of(self, column: str, values: Sequence[Any]) -> str:
        if self.style == "qmark":
            return f"{column} IN ({','.join(self(v) for v in values)})"
        return f"{column} = ANY({self(list(values))})"


def alert_filter(
    p: Params,
    regions: frozenset[RegionId] | None,
    threat: ThreatType | None,
    since: datetime | None,
    until: datetime | None,
) -> list[str]:
    clauses: list[str] = []
    if regions is not None:
        clauses.append(p.one_of("region_id", sorted(regions)))
    if threat is not None:
        clauses.append(f"threat = {p(threat.value)}")
    if since is not None:
        clauses.append(f"(ended_ms IS NULL OR ended_ms > {p(to_ms(since))})")
    if until is not None:
        clauses.append(f"started_ms < {p(to_ms(until))}")
    return clauses


def where(clauses: Sequence[str]) -> str:
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


def intervals_sql(
    p: Params,
    regions: frozenset[RegionId] | None,
    threat: ThreatType | None,
    since: datetime | None,
    until: datetime | None,
) -> str:
    clauses = alert_filter(p, regions, threat, since, until)
    return f"SELECT region_id, started_ms, ended_ms FROM alerts{where(clauses)} ORDER BY started_ms"


def interval(row: Sequence[Any]) -> tuple[RegionId, datetime, datetime | None]:
    return RegionId(row[0]), from_ms(row[1]), None if row[2] is None else from_ms(row[2])


def history_sql(p: Params, query: HistoryQuery) -> str:
    """Alerts newest first, one more than a page (to know whether another follows)."""
    clauses = alert_filter(p, query.regions, query.threat, query.since, query.until)
    if query.issuer is not None:
        clauses.append(f"issuer = {p(query.issuer)}")
    if query.cursor is not None:
        started, _, alert_id = query.cursor.partition("_")
        clauses.append(
            f"(started_ms < {p(int(started))} OR (started_ms = {p(int(started))}"
            f" AND id < {p(alert_id)}))"
        )
    return (
        f"SELECT started_ms, id, payload FROM alerts{where(clauses)}"
        f" ORDER BY started_ms DESC, id DESC LIMIT {p(query.limit + 1)}"
    )


def history_page(rows: Sequence[Sequence[Any]], query: HistoryQuery) -> HistoryPage:
    alerts = [alert_from_json(orjson.loads(r[2])) for r in rows[: query.limit]]
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]
        next_cursor = f"{last[0]}_{last[1]}"
    return HistoryPage(alerts, next_cursor)


def span(
    first: int | None, last: int | None, active: int
) -> tuple[datetime, datetime | None] | None:
    """alert_span from min(started_ms), max(ended_ms) and the count of active alerts."""
    if first is None:
        return None
    return from_ms(first), None if active or last is None else from_ms(last)


def export_sql(p: Params, table: str, after: Row | None, limit: int) -> str:
    """A page of a Transfer table, in the order of its key."""
    keys = ", ".join(KEYS[table])
    sql = f"SELECT {', '.join(TABLES[table])} FROM {table}"
    if after is not None:
        sql += f" WHERE ({keys}) > ({', '.join(p(v) for v in after)})"
    return f"{sql} ORDER BY {keys} LIMIT {p(limit)}"


# -- the channels' delivery state (one statement text for both backends) ----------------

TAKE_LEASE = (
    "INSERT INTO leases (name, holder, expires_ms) VALUES ({name}, {holder}, {now} + {ttl})"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms"
    " WHERE leases.holder = excluded.holder OR leases.expires_ms < {now}"
)
HOLDS_LEASE = (
    "SELECT 1 FROM leases WHERE name = {name} AND holder = {holder} AND expires_ms >= {now}"
)
DROP_LEASE = "DELETE FROM leases WHERE name = {name} AND holder = {holder}"
MOVE_CURSOR = (
    "INSERT INTO cursors (name, seq, updated_ms) VALUES ({name}, {seq}, {now})"
    " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_ms = excluded.updated_ms"
    " WHERE cursors.seq < excluded.seq"
)


# -- the Telegram bot's subscribers --------------------------------------------------------

FIRST_CHAT = -(2**63)  # below every chat id (groups' are negative)
SUBSCRIBE_CHAT = (
    "INSERT INTO telegram_chats (chat_id, region_id, lang, subscribed_ms)"
    " VALUES ({chat}, {region}, {lang}, {now})"
    " ON CONFLICT (chat_id) DO UPDATE SET region_id = excluded.region_id,"
    " lang = excluded.lang, subscribed_ms = excluded.subscribed_ms"
)
CHAT_LANGUAGE = "UPDATE telegram_chats SET lang = {lang} WHERE chat_id = {chat}"
UNSUBSCRIBE_CHAT = "DELETE FROM telegram_chats WHERE chat_id = {chat}"
DROP_CURSOR = "DELETE FROM cursors WHERE name = {name}"
_CHATS = (
    "SELECT t.chat_id, t.region_id, t.lang, c.seq FROM telegram_chats t"
    " LEFT JOIN cursors c ON c.name = CAST({prefix} AS TEXT) || CAST(t.chat_id AS TEXT)"
)
CHATS_AFTER = _CHATS + " WHERE t.chat_id > {after} ORDER BY t.chat_id LIMIT {limit}"
GET_CHAT = _CHATS + " WHERE t.chat_id = {chat}"


def chat_record(row: Sequence[Any]) -> ChatRecord:
    """chat_id, region_id, lang, cursor seq (or NULL)."""
    return ChatRecord(
        int(row[0]), RegionId(row[1]), row[2], None if row[3] is None else Seq(int(row[3]))
    )


def statement(
    text: str, style: Literal["qmark", "numeric"], clock: str | None = None, **values: Any
) -> tuple[str, list[Any]]:
    """A statement with named places (`{name}`), written with the backend's parameters in
    the order the places come in the text; `{now}` is the SQL expression `clock` when one
    is given (the database's own clock), else the value `now`."""
    params = Params(style)

    def place(found: re.Match[str]) -> str:
        name = found.group(1)
        return clock if name == "now" and clock is not None else params(values[name])

    return re.sub(r"\{(\w+)\}", place, text), params.values


# -- declares waiting for a second person ----------------------------------------------

PENDING_COLUMNS = (
    "id, requester, body, oblasts, created_ms, expires_ms, outcome, decided_by, decided_ms, seq"
)
DECIDE_PENDING = (
    "UPDATE pending SET outcome = {outcome}, decided_by = {by}, decided_ms = {now}, seq = {seq}"
    " WHERE id = {id} AND outcome IS NULL"
)


def pending_row(row: Sequence[Any]) -> PendingDeclare:
    return PendingDeclare(
        row[0],
        row[1],
        bytes(row[2]),
        int(row[3]),
        from_ms(row[4]),
        from_ms(row[5]),
        row[6],
        row[7],
        None if row[8] is None else from_ms(row[8]),
        None if row[9] is None else Seq(row[9]),
    )


def pending_values(p: PendingDeclare) -> tuple[Any, ...]:
    return (
        p.id,
        p.requester,
        p.body,
        p.oblasts,
        to_ms(p.created_at),
        to_ms(p.expires_at),
        p.outcome,
        p.decided_by,
        None if p.decided_at is None else to_ms(p.decided_at),
        p.seq,
    )


# -- web push subscriptions (one statement text for both backends) ------------------------

PUSH_COLUMNS = "id, endpoint, p256dh, auth, lang, since_seq, created_ms"
SAVE_PUSH = (
    "INSERT INTO push_subscriptions"
    " (id, endpoint, p256dh, auth, lang, since_seq, created_ms, updated_ms)"
    " VALUES ({id}, {endpoint}, {p256dh}, {auth}, {lang}, {since_seq}, {now}, {now})"
    " ON CONFLICT (id) DO UPDATE SET endpoint = excluded.endpoint, p256dh = excluded.p256dh,"
    " auth = excluded.auth, lang = excluded.lang, updated_ms = excluded.updated_ms"
)
PUSH_EXISTS = "SELECT 1 FROM push_subscriptions WHERE id = {id}"
COUNT_PUSH = "SELECT count(*) FROM push_subscriptions"
DROP_PUSH_REGIONS = "DELETE FROM push_regions WHERE subscription_id = {id}"
ADD_PUSH_REGION = (
    "INSERT INTO push_regions (region_id, subscription_id) VALUES ({region}, {id})"
    " ON CONFLICT DO NOTHING"
)
DROP_PUSH = "DELETE FROM push_subscriptions WHERE id = {id}"
KEEP_META = "INSERT INTO meta (key, value) VALUES ({key}, {value}) ON CONFLICT (key) DO NOTHING"
READ_META = "SELECT value FROM meta WHERE key = {key}"


def push_by_id_sql(p: Params, sub_id: str) -> str:
    return (
        f"SELECT {_push_columns('s')}, r.region_id FROM push_subscriptions s"
        f" JOIN push_regions r ON r.subscription_id = s.id WHERE s.id = {p(sub_id)}"
    )


def push_for_regions_sql(p: Params, regions: Sequence[RegionId]) -> str:
    """Every subscription following one of `regions`, with all its regions (a row each)."""
    return (
        f"SELECT {_push_columns('s')}, r.region_id FROM push_subscriptions s"
        " JOIN push_regions r ON r.subscription_id = s.id WHERE s.id IN"
        f" (SELECT subscription_id FROM push_regions WHERE {p.one_of('region_id', regions)})"
        " ORDER BY s.id, r.region_id"
    )


def _push_columns(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in PUSH_COLUMNS.split(","))


def push_subscriptions(rows: Sequence[Sequence[Any]]) -> list[PushSubscription]:
    """Rows of (PUSH_COLUMNS..., region_id), grouped by subscription in their order."""
    found: dict[str, tuple[Sequence[Any], list[RegionId]]] = {}
    for row in rows:
        found.setdefault(row[0], (row, []))[1].append(RegionId(row[7]))
    return [
        PushSubscription(
            id=row[0],
            endpoint=row[1],
            p256dh=row[2],
            auth=row[3],
            regions=tuple(regions),
            lang=row[4],
            since_seq=Seq(row[5]),
            created_at=from_ms(row[6]),
        )
        for row, regions in found.values()
    ]
