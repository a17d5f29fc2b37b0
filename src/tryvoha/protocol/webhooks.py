"""The wire form of webhooks, with no I/O: the Standard Webhooks headers of a delivery
(signed with the `standardwebhooks` package), message ids, secrets, and the JSON form
of a subscription as the admin API shows it.

The body of a delivery is the event's JSON exactly as every stream sends it (the bytes
encoded once at commit), so a receiver that also reads the SSE stream parses one form.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from tryvoha import __version__
from tryvoha.domain.webhooks import Attempt, WebhookRecord
from tryvoha.protocol.wire import format_time

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # 256 bits, as the spec recommends (24 to 64)
ID_PREFIX = "wh_"
USER_AGENT = f"tryvoha/{__version__} (webhooks; +https://www.standardwebhooks.com/)"


def new_secret(random: bytes) -> str:
    """A signing secret in the Standard Webhooks form: whsec_ and base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(random).decode()


def new_endpoint_id(random: bytes) -> str:
    return ID_PREFIX + random.hex()


def message_id(endpoint_id: str, seq: int) -> str:
    """`webhook-id`: one per endpoint and event, the same on every retry and replay, so a
    receiver that has seen it can tell a repeat."""
    return f"msg_{endpoint_id}_{seq}"


def signed_headers(
    signer: Webhook, msg_id: str, at: datetime, body: bytes
) -> list[tuple[str, str]]:
    """The headers of one attempt: a new timestamp each time (receivers refuse old ones),
    the same id, the signature over both and the body."""
    return [
        ("content-type", "application/json"),
        ("user-agent", USER_AGENT),
        ("webhook-id", msg_id),
        ("webhook-timestamp", str(int(at.timestamp()))),
        ("webhook-signature", signer.sign(msg_id, at, body)),
    ]


def attempt_to_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "seq": attempt.seq,
        "at": format_time(attempt.at),
        "status": attempt.status,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
    }


def webhook_to_json(
    record: WebhookRecord,
    waiting: int | None = None,
    waiting_capped: bool = False,
    attempts: Sequence[Attempt] | None = None,
) -> dict[str, Any]:
    """A subscription as the API shows it: never its secret (shown once, at creation)."""
    data: dict[str, Any] = {
        "id": record.id,
        "url": record.url,
        "regions": None if record.regions is None else list(record.regions),
        "threats": None if record.threats is None else [t.value for t in record.threats],
        "description": record.description,
        "state": record.state.value,
        "created_at": format_time(record.created_at),
        "cursor": record.cursor,
        "last_delivered_seq": record.delivered_seq,
        "last_delivered_at": _time(record.delivered_at),
        "last_error": record.last_error,
        "last_error_at": _time(record.last_error_at),
        "replay_from": record.replay_from,
    }
    if waiting is not None:
        data["waiting"] = waiting
        data["waiting_capped"] = waiting_capped
    if attempts is not None:
        data["attempts"] = [attempt_to_json(a) for a in attempts]
    return data


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)
