"""Webhooks' rows and statements, one text for both backends (written with
`rows.statement`: `{name}` places, `{now}` the clock).

Values in a SELECT list are CAST so that PostgreSQL knows their types (it does not infer
them from the INSERT's columns); SQLite reads the same CASTs as no-ops.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionId
from tryvoha.domain.webhooks import Attempt, NewWebhook, WebhookRecord, WebhookState
from tryvoha.store.rows import from_ms, statement, to_ms
from tryvoha.store.webhooks import CURSOR_PREFIX, WebhookProgress, cursor_name

COUNT = "SELECT count(*) FROM webhooks"
INSERT = (
    "INSERT INTO webhooks (id, url, regions, threats, description, secret, state, created_ms,"
    " version) VALUES ({id}, {url}, {regions}, {threats}, {description}, {secret}, 'active',"
    " {now}, 1)"
)
# The new endpoint's cursor: the log's head (it is sent what is committed after).
START_CURSOR = (
    "INSERT INTO cursors (name, seq, updated_ms)"
    " SELECT CAST({name} AS TEXT), coalesce(max(seq), 0), CAST({now} AS BIGINT) FROM events"
    " WHERE true ON CONFLICT (name) DO UPDATE SET seq = excluded.seq,"
    " updated_ms = excluded.updated_ms"
)
SELECT = (
    "SELECT w.id, w.url, w.regions, w.threats, w.description, w.secret, w.state,"
    " w.created_ms, w.version, coalesce(c.seq, 0), w.replay_from, w.delivered_seq,"
    " w.delivered_ms, w.last_error, w.last_error_ms"
    f" FROM webhooks w LEFT JOIN cursors c ON c.name = '{CURSOR_PREFIX}' || w.id"
)
ORDER = " ORDER BY w.created_ms, w.id"
VERSIONS = "SELECT id, version FROM webhooks"
DELETE = "DELETE FROM webhooks WHERE id = {id}"
DELETE_ATTEMPTS = "DELETE FROM webhook_attempts WHERE webhook_id = {id}"
DELETE_CURSOR = "DELETE FROM cursors WHERE name = {name}"
RESUME = "UPDATE webhooks SET state = 'active', version = version + 1 WHERE id = {id}"
ASK_REPLAY = "UPDATE webhooks SET replay_from = {seq}, version = version + 1 WHERE id = {id}"
ATTEMPTS = (
    "SELECT n, seq, at_ms, status, duration_ms, error FROM webhook_attempts"
    " WHERE webhook_id = {id} ORDER BY n DESC LIMIT {limit}"
)
LAST_ATTEMPTS = "SELECT webhook_id, max(n) FROM webhook_attempts GROUP BY webhook_id"

# -- what the delivery records (fenced by its lease, in one transaction) ---------------
EXISTS = "EXISTS (SELECT 1 FROM webhooks WHERE id = {id})"
MOVE_CURSOR = (
    "INSERT INTO cursors (name, seq, updated_ms)"
    " SELECT CAST({name} AS TEXT), CAST({seq} AS BIGINT), CAST({now} AS BIGINT)"
    f" WHERE {EXISTS}"
    " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_ms = excluded.updated_ms"
    " WHERE cursors.seq < excluded.seq"
)
INSERT_ATTEMPT = (
    "INSERT INTO webhook_attempts (webhook_id, n, seq, at_ms, status, duration_ms, error)"
    " SELECT CAST({webhook} AS TEXT), CAST({n} AS BIGINT), CAST({seq} AS BIGINT),"
    " CAST({at} AS BIGINT), CAST({status} AS INTEGER), CAST({duration} AS INTEGER),"
    f" CAST({{error}} AS TEXT) WHERE {EXISTS}"
    " ON CONFLICT (webhook_id, n) DO NOTHING"
)
PRUNE = "DELETE FROM webhook_attempts WHERE webhook_id = {id} AND n <= {n}"
DELIVERED = "UPDATE webhooks SET delivered_seq = {seq}, delivered_ms = {at} WHERE id = {id}"
FAILED = "UPDATE webhooks SET last_error = {error}, last_error_ms = {at} WHERE id = {id}"
STATE = (
    "UPDATE webhooks SET state = {state}, version = version + 1"
    " WHERE id = {id} AND version = {version}"
)
TAKE_REPLAY = "UPDATE webhooks SET replay_from = NULL WHERE id = {id} AND replay_from = {seq}"
REWIND_CURSOR = (
    "INSERT INTO cursors (name, seq, updated_ms) VALUES ({name}, {seq}, {now})"
    " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_ms = excluded.updated_ms"
)


def new_row(hook: NewWebhook) -> dict[str, Any]:
    """The named values of INSERT (all but {now})."""
    return {
        "id": hook.id,
        "url": hook.url,
        "regions": None if hook.regions is None else ",".join(hook.regions),
        "threats": None if hook.threats is None else ",".join(t.value for t in hook.threats),
        "description": hook.description,
        "secret": hook.secret,
    }


def _ids(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(p for p in text.split(",") if p)


def record(row: Sequence[Any]) -> WebhookRecord:
    """A row of SELECT."""
    regions = _ids(row[2])
    threats = _ids(row[3])
    return WebhookRecord(
        id=row[0],
        url=row[1],
        regions=None if regions is None else tuple(RegionId(r) for r in regions),
        threats=None if threats is None else tuple(ThreatType(t) for t in threats),
        description=row[4],
        secret=row[5],
        state=WebhookState(row[6]),
        created_at=from_ms(row[7]),
        version=int(row[8]),
        cursor=Seq(int(row[9])),
        replay_from=None if row[10] is None else Seq(int(row[10])),
        delivered_seq=None if row[11] is None else Seq(int(row[11])),
        delivered_at=None if row[12] is None else from_ms(row[12]),
        last_error=row[13],
        last_error_at=None if row[14] is None else from_ms(row[14]),
    )


def attempt(row: Sequence[Any]) -> Attempt:
    """A row of ATTEMPTS."""
    return Attempt(int(row[0]), Seq(int(row[1])), from_ms(row[2]), row[3], int(row[4]), row[5])


_PLACE = re.compile(r"\{(\w+)\}")


def many(
    text: str, style: Literal["qmark", "numeric"], clock: str | None, rows: Sequence[dict[str, Any]]
) -> tuple[str, list[list[Any]]]:
    """One statement for executemany: its text (as `statement` writes it) and each row's
    values in the order its places come in the text."""
    if not rows:
        return "", []
    written = statement(text, style, clock, **rows[0])[0]
    order = [n for n in _PLACE.findall(text) if not (n == "now" and clock is not None)]
    return written, [[row[n] for n in order] for row in rows]


Plan = list[tuple[str, list[list[Any]]]]  # statements for executemany, in order


def progress_plan(
    progress: WebhookProgress, style: Literal["qmark", "numeric"], clock: str | None, now: int
) -> Plan:
    """The statements that record `progress` (after the lease is checked), both backends'."""
    parts: list[tuple[str, list[dict[str, Any]]]] = [
        (
            INSERT_ATTEMPT,
            [
                {
                    "webhook": hook,
                    "n": a.n,
                    "seq": a.seq,
                    "at": to_ms(a.at),
                    "status": a.status,
                    "duration": a.duration_ms,
                    "error": a.error,
                    "id": hook,
                }
                for hook, a in progress.attempts
            ],
        ),
        (PRUNE, [{"id": hook, "n": n} for hook, n in progress.prune.items()]),
        (
            MOVE_CURSOR,
            [
                {"name": cursor_name(hook), "seq": seq, "now": now, "id": hook}
                for hook, seq in progress.cursors.items()
            ],
        ),
        (
            DELIVERED,
            [
                {"seq": seq, "at": to_ms(at), "id": hook}
                for hook, (seq, at) in progress.delivered.items()
            ],
        ),
        (
            FAILED,
            [
                {"error": error, "at": to_ms(at), "id": hook}
                for hook, (error, at) in progress.errors.items()
            ],
        ),
        (
            STATE,
            [
                {"state": state.value, "id": hook, "version": version}
                for hook, (state, version) in progress.states.items()
            ],
        ),
    ]
    plan: Plan = []
    for text, rows in parts:
        if rows:
            plan.append(many(text, style, clock, rows))
    return plan
