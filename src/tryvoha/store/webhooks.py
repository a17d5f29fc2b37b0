"""What the store keeps for webhooks: the subscriptions, how far each endpoint has
acknowledged the log (its cursor, in the channels' `cursors` table), and the last
attempts to deliver to it.

There is no outbox table: the log is the outbox. A declare writes nothing for any
endpoint; the delivering process reads the log after each endpoint's cursor and moves the
cursor once the endpoint answered 2xx, many endpoints in one transaction. What the
delivery records is fenced by its lease, as `Channels.move_cursors` is: a process that
lost the lease records nothing.

Admins change a subscription (resume, replay, remove); the delivery changes its state
(suspended, disabled). Both bump `version`, and the delivery changes a state only if the
version is still the one it decided on, so an admin's resume is never overwritten by a
suspension decided before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from tryvoha.domain.events import Seq
from tryvoha.domain.webhooks import Attempt, NewWebhook, WebhookRecord, WebhookState

CURSOR_PREFIX = "webhook:"  # an endpoint's cursor is named webhook:<id>


def cursor_name(webhook_id: str) -> str:
    return CURSOR_PREFIX + webhook_id


class TooManyWebhooksError(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"this server holds at most {limit} webhooks (--max-webhooks)")
        self.detail = str(self)


@dataclass(slots=True)
class WebhookProgress:
    """What the delivery learnt since it last recorded, recorded in one transaction."""

    cursors: dict[str, Seq] = field(default_factory=dict)  # endpoint id -> seq (forward only)
    attempts: list[tuple[str, Attempt]] = field(default_factory=list)
    prune: dict[str, int] = field(default_factory=dict)  # id -> forget attempts n <= this
    delivered: dict[str, tuple[Seq, datetime]] = field(default_factory=dict)
    errors: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    states: dict[str, tuple[WebhookState, int]] = field(default_factory=dict)  # (new, version)

    def __bool__(self) -> bool:
        return bool(
            self.cursors
            or self.attempts
            or self.prune
            or self.delivered
            or self.errors
            or self.states
        )


class Webhooks(Protocol):
    async def create_webhook(self, hook: NewWebhook, limit: int) -> WebhookRecord:
        """Store a subscription, its cursor at the log's head (it is sent what comes
        after), in one transaction; TooManyWebhooksError when `limit` are stored already."""

    async def webhooks(self, ids: Sequence[str] | None = None) -> list[WebhookRecord]:
        """These subscriptions (None: all), oldest first, with their cursors."""

    async def count_webhooks(self) -> int: ...

    async def webhook_versions(self) -> dict[str, int]:
        """Every subscription's id and version: a cheap look for what changed."""

    async def remove_webhook(self, webhook_id: str) -> bool:
        """Forget a subscription, its cursor and its attempts; False when there was none."""

    async def resume_webhook(self, webhook_id: str) -> bool:
        """Make it active again (from its cursor: nothing waiting is lost)."""

    async def request_replay(self, webhook_id: str, from_seq: Seq) -> bool:
        """Ask the delivery to send again from `from_seq` (it takes it up, fenced)."""

    async def webhook_attempts(self, webhook_id: str, limit: int) -> list[Attempt]:
        """The newest attempts, newest first."""

    async def last_attempt_numbers(self) -> dict[str, int]:
        """Per subscription, the number of its newest attempt."""

    async def record_webhooks(self, progress: WebhookProgress, lease: str, holder: str) -> bool:
        """Record delivery progress in one transaction, only while `holder` holds `lease`
        (False, recording nothing, when it does not). Rows of subscriptions removed
        meanwhile are not written; a state changes only if its version is unchanged."""

    async def take_replay(self, webhook_id: str, from_seq: Seq, lease: str, holder: str) -> bool:
        """Take up a replay the delivery saw asked for: the cursor goes back to just
        before `from_seq` and the request is cleared, if it is still the one asked for and
        `holder` holds `lease`; True when it was taken up."""
