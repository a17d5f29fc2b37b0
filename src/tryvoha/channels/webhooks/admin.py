"""The subscriptions' operations behind the admin API: make one (its URL checked, its
secret made and shown once), list and show them with how many events wait for each,
remove, resume and replay. Every change is audited under the admin token's name and
told to this process's channel at once (other processes see it within a second).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tryvoha.channels.webhooks.channel import WebhookChannel
from tryvoha.channels.webhooks.targets import Resolver, parse_target
from tryvoha.channels.webhooks.window import EventWindow
from tryvoha.config import Settings
from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionTree
from tryvoha.domain.webhooks import Attempt, NewWebhook, WebhookRecord, event_filter
from tryvoha.protocol.webhooks import SECRET_BYTES, new_endpoint_id, new_secret
from tryvoha.store.base import AuditEntry, Store

SCAN_PAGE = 1000
SCAN_CHECKS = 200_000  # events x subscriptions looked at to count what waits, at most
SCAN_EVENTS = 10_000  # events looked at for one subscription, at most
ATTEMPTS_SHOWN = 20


class ReplayRangeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Waiting:
    count: int  # matching events after the cursor
    capped: bool  # the log goes on beyond what was counted: at least `count`


class WebhookAdmin:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        tree: RegionTree,
        window: EventWindow,
        channel: WebhookChannel | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.tree = tree
        self.window = window
        self.channel = channel

    def _changed(self) -> None:
        if self.channel is not None:
            self.channel.poke()

    async def _audit(self, actor: str, action: str, detail: str) -> None:
        await self.store.audit([AuditEntry(datetime.now(UTC), actor, action, "ok", detail)])

    async def create(
        self,
        url: str,
        regions: Sequence[str] | None,
        threats: Sequence[ThreatType] | None,
        description: str,
        actor: str,
    ) -> WebhookRecord:
        """Raises TargetError, UnknownRegionError, TooManyWebhooksError."""
        target = parse_target(url)
        region_ids = None
        if regions is not None:
            region_ids = tuple(dict.fromkeys(self.tree.get(r).id for r in regions))
        await Resolver(self.settings.webhooks_allow_private).address(target)
        hook = NewWebhook(
            id=new_endpoint_id(secrets.token_bytes(8)),
            url=url,
            regions=region_ids,
            threats=None if threats is None else tuple(dict.fromkeys(threats)),
            description=description,
            secret=new_secret(secrets.token_bytes(SECRET_BYTES)),
        )
        record = await self.store.create_webhook(hook, self.settings.max_webhooks)
        await self._audit(actor, "webhook.create", f"id={record.id} url={url}")
        self._changed()
        return record

    async def listing(self) -> list[tuple[WebhookRecord, Waiting]]:
        records = await self.store.webhooks()
        waiting = await self.waiting(records)
        return [(r, waiting[r.id]) for r in records]

    async def show(self, webhook_id: str) -> tuple[WebhookRecord, Waiting, list[Attempt]] | None:
        found = await self.store.webhooks([webhook_id])
        if not found:
            return None
        attempts = await self.store.webhook_attempts(webhook_id, ATTEMPTS_SHOWN)
        return found[0], (await self.waiting(found))[webhook_id], attempts

    async def remove(self, webhook_id: str, actor: str) -> bool:
        gone = await self.store.remove_webhook(webhook_id)
        if gone:
            await self._audit(actor, "webhook.remove", f"id={webhook_id}")
            self._changed()
        return gone

    async def resume(self, webhook_id: str, actor: str) -> WebhookRecord | None:
        if not await self.store.resume_webhook(webhook_id):
            return None
        await self._audit(actor, "webhook.resume", f"id={webhook_id}")
        self._changed()
        return (await self.store.webhooks([webhook_id]))[0]

    async def replay(self, webhook_id: str, from_seq: int, actor: str) -> WebhookRecord | None:
        """Raises ReplayRangeError when from_seq is past the log's end."""
        last = await self.store.last_seq()
        if not 1 <= from_seq <= last + 1:
            raise ReplayRangeError(f"from_seq: the log runs from seq 1 to {last}")
        if not await self.store.request_replay(webhook_id, Seq(from_seq)):
            return None
        await self._audit(actor, "webhook.replay", f"id={webhook_id} from_seq={from_seq}")
        self._changed()
        return (await self.store.webhooks([webhook_id]))[0]

    async def waiting(self, records: Sequence[WebhookRecord]) -> dict[str, Waiting]:
        """How many events wait for each: those after its cursor that it would be sent,
        counted in one pass over the log from the lowest cursor (bounded)."""
        if not records:
            return {}
        filters = [(r, event_filter(self.tree, r.regions, r.threats)) for r in records]
        counts = dict.fromkeys((r.id for r in records), 0)
        budget = min(SCAN_EVENTS, max(SCAN_PAGE, SCAN_CHECKS // len(records)))
        seq = Seq(min(r.cursor for r in records))
        scanned = 0
        while scanned < budget:
            items = await self.window.now_after(seq, SCAN_PAGE, keep=False)
            if not items:
                break
            for item in items:
                for record, wanted in filters:
                    if item.seq > record.cursor and wanted.matches(
                        item.region_bit, item.threat, item.historical
                    ):
                        counts[record.id] += 1
            seq = items[-1].seq
            scanned += len(items)
        capped = scanned >= budget and seq < self.window.feed.announced
        return {i: Waiting(n, capped) for i, n in counts.items()}
