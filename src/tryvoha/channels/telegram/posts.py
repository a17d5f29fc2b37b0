"""Posts to the channels and groups named by --telegram-channel: every declare, update
and clear that concerns the channel's regions, one post per request (grouped), in order.

Each channel has its own cursor (`telegram:channel:<chat>`), moved after Telegram's answer;
the next post goes only once that move is committed, so a kill -9 re-posts at most the
one post in flight. A channel that refuses the bot (not an admin, removed) holds only its
own posts back: it is tried again every BLOCKED_RETRY_SECONDS, and catches up in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tryvoha.channels.source import EventSource
from tryvoha.channels.telegram.record import Recorder
from tryvoha.channels.telegram.sender import Outcome, Sender
from tryvoha.domain.events import Event, EventType, Seq, is_historical
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import RegionId
from tryvoha.i18n import catalogue
from tryvoha.protocol.telegram import ChannelSpec, Group, Wording, group_events, group_text

log = logging.getLogger(__name__)

BLOCKED_RETRY_SECONDS = 60.0
PAGE = 256


class ChannelPoster:
    def __init__(
        self,
        spec: ChannelSpec,
        source: EventSource,
        sender: Sender,
        recorder: Recorder,
        wording: Wording,
        projection: Callable[[], Projection],
    ) -> None:
        self.spec = spec
        self.source = source
        self.sender = sender
        self.recorder = recorder
        self.wording = wording
        self.projection = projection
        self._mask = wording.tree.related_mask(spec.regions) if spec.regions else None
        self._t = catalogue(spec.lang)

    def concerns(self, event: Event) -> bool:
        if is_historical(event.issuer):
            return False  # no siren for an alert of 2022 imported today
        return self._mask is None or bool(self._mask & self.wording.tree.bit(event.alert.region_id))

    async def run(self, cursor: Seq) -> None:
        while True:
            items = await self.source.after(cursor, PAGE)
            for group in group_events(e for e, _ in items if self.concerns(e)):
                await self._post(group)
            cursor = items[-1][0].seq
            self.recorder.note(self.spec.cursor, cursor)  # past what did not concern it

    async def _post(self, group: Group) -> None:
        text = group_text(group, self._t, self.wording, self._already(group))
        while True:
            result = await self.sender.send(self.spec.chat_id, text)
            if result.outcome is not Outcome.GONE:
                break
            log.error(
                "Telegram refuses posts to %s (%s): is the bot an admin there? trying again in %s s",
                self.spec.chat,
                result.detail,
                BLOCKED_RETRY_SECONDS,
            )
            await asyncio.sleep(BLOCKED_RETRY_SECONDS)
        if result.outcome is not Outcome.SENT:
            log.error("Telegram would not take a post to %s: %s", self.spec.chat, result.detail)
        self.recorder.note(self.spec.cursor, group.last_seq)
        await self.recorder.durable()  # the next post to it only once this one is recorded

    def _already(self, group: Group) -> frozenset[RegionId]:
        """For a declare naming at least half of the oblasts: the oblasts under an alert of
        its threat type since before it (with them, it may still be the whole country)."""
        first = group.first
        if first.type is not EventType.DECLARED or 2 * len(group.events) < len(
            self.wording.oblasts
        ):
            return frozenset()
        mine = set(group.regions)
        return frozenset(
            a.region_id
            for a in self.projection().active()
            if a.threat is first.alert.threat
            and a.region_id in self.wording.oblasts
            and a.region_id not in mine
            and a.started_at < first.at
        )
