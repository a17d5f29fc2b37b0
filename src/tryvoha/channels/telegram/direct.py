"""Direct messages: each subscriber gets every event that concerns its region (the
region's own alerts, its oblast's and raion's, and those inside it), in its language, in
order, once; however many subscribers there are, in bounded memory.

A *sweep* reads the subscribers from the store a page at a time (PAGE, in chat id order)
and sends each chat, in one message, the events after its own point that concern it (a
second message when they pass Telegram's 4,096 characters). The sweep's events are a
*window* held in memory: those after `head` (the point every chat has been sent) up to the
newest, at most WINDOW_EVENTS, grown page by page with what arrives meanwhile, so a chat
reached late in a long sweep gets the declare and the clear that followed it together.
Texts are made once per (region, starting point, language), not once per chat. At most
IN_FLIGHT messages wait for Telegram at once; the pace (pace.py) keeps to its limits.

Each chat's cursor (`telegram:chat:<id>`) moves to the last event it was sent, after
Telegram's answer, committed with the others' (record.py). A chat is sent at most one
message per sweep (or one part at a time, each recorded before the next), and a sweep
ends only once all its messages are recorded; then `head` (`telegram:direct`) moves to
where the sweep began. So after a kill -9 the next sweep starts from `head`, skips every
chat whose cursor shows it was sent, and re-sends only messages whose answer had come but
whose cursor was not committed yet: at most one per chat, the one in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from tryvoha.channels.source import EventSource, Item
from tryvoha.channels.telegram.record import Recorder
from tryvoha.channels.telegram.sender import Outcome, Sender
from tryvoha.domain.events import Event, Seq, is_historical
from tryvoha.domain.regions import RegionId
from tryvoha.i18n import catalogue
from tryvoha.protocol.telegram import Wording, compose, group_events, group_text
from tryvoha.store.base import CHAT_CURSOR, ChatRecord, TelegramChats

log = logging.getLogger(__name__)

DIRECT_CURSOR = "telegram:direct"  # every chat has been sent everything up to here
PAGE = 1_000  # subscribers read from the store at a time
WINDOW_EVENTS = 2_000  # events one sweep holds at most
IN_FLIGHT = 32  # messages waiting for Telegram's answer at once
READ = 256

Part = tuple[str, Seq]  # a message's text, and the last event it holds


@dataclass
class Window:
    head: Seq
    end: Seq  # read up to here
    events: list[Event] = field(default_factory=list)  # after head, that concern somebody

    def take(self, items: Sequence[Item]) -> None:
        self.events.extend(e for e, _ in items if not is_historical(e.issuer))
        self.end = items[-1][0].seq

    @property
    def full(self) -> bool:
        return len(self.events) >= WINDOW_EVENTS

    def advance(self, head: Seq) -> None:
        self.head = head
        self.events = [e for e in self.events if e.seq > head]


class DirectMessages:
    def __init__(
        self,
        chats: TelegramChats,
        source: EventSource,
        sender: Sender,
        recorder: Recorder,
        wording: Wording,
    ) -> None:
        self.chats = chats
        self.source = source
        self.sender = sender
        self.recorder = recorder
        self.wording = wording
        self._masks: dict[RegionId, int] = {}  # at most one per region of the tree
        self._texts: dict[tuple[RegionId, Seq, str], list[Part]] = {}
        self._texts_for: Seq | None = None  # the window end the texts were made for
        self._changed: set[int] = set()  # chats that (un)subscribed during this sweep
        self.sweeps = 0

    def changed(self, chat_id: int) -> None:
        """The chat subscribed anew or stopped: what this sweep read of it is stale. Its
        new cursor is at least the newest event when it changed, past this sweep's
        window start, so the sweep leaves it alone and loses it nothing."""
        self._changed.add(chat_id)

    async def run(self, head: Seq) -> None:
        window = Window(head, head)
        while True:
            if window.end == window.head:  # nothing beyond head yet: wait for it
                window.take(await self.source.after(window.end, READ))
            await self._extend(window)
            reached = await self.sweep(window) if window.events else window.end
            window.advance(reached)
            self.recorder.note(DIRECT_CURSOR, reached)

    async def _extend(self, window: Window) -> None:
        while not window.full:
            items = await self.source.now_after(window.end, READ)
            if not items:
                return
            window.take(items)

    async def sweep(self, window: Window) -> Seq:
        """Send every subscriber what concerns it in the window; every chat has then been
        sent everything up to the returned seq."""
        reached = window.end
        self._changed.clear()
        flights = Flights(IN_FLIGHT)
        after: int | None = None
        try:
            while page := await self.chats.chats_after(after, PAGE):
                await self._extend(window)
                for chat in page:
                    parts = self._parts(window, chat)
                    if parts:
                        await flights.start(self._deliver(chat, parts))
                after = page[-1].chat_id
            await flights.finish()
        finally:
            flights.cancel()
        await self.recorder.durable()
        self.sweeps += 1
        return reached

    def _parts(self, window: Window, chat: ChatRecord) -> list[Part]:
        start = max(window.head, chat.cursor or 0)
        if self._texts_for != window.end:
            self._texts, self._texts_for = {}, window.end
        key = (chat.region_id, Seq(start), chat.lang)
        found = self._texts.get(key)
        if found is None:
            found = self._texts[key] = self._make(window, *key)
        return found

    def _make(self, window: Window, region: RegionId, start: Seq, lang: str) -> list[Part]:
        mask = self._masks.get(region)
        if mask is None:
            mask = self._masks[region] = self.wording.tree.related_mask([region])
        bit = self.wording.tree.bit
        events = [e for e in window.events if e.seq > start and mask & bit(e.alert.region_id)]
        groups = group_events(events)
        t = catalogue(lang)
        texts = [group_text(g, t, self.wording) for g in groups]
        parts: list[Part] = []
        while texts:
            text, count = compose(texts)
            parts.append((text, groups[count - 1].last_seq))
            texts, groups = texts[count:], groups[count:]
        return parts

    async def _deliver(self, chat: ChatRecord, parts: list[Part]) -> None:
        chat_id = chat.chat_id
        for number, (text, upto) in enumerate(parts):
            if number:
                await self.recorder.durable()  # its previous message recorded first
            if chat_id in self._changed:
                return  # /stop, or another place, since its page was read
            result = await self.sender.send(chat_id, text)
            if result.outcome is Outcome.MOVED and result.moved_to is not None:
                chat_id = await self._moved(chat, chat_id, result.moved_to)
                result = await self.sender.send(chat_id, text)
            if result.outcome is Outcome.GONE:
                log.info("chat %s is gone (%s): unsubscribed", chat_id, result.detail)
                await self.chats.unsubscribe_chat(chat_id)
                return
            if result.outcome is Outcome.REFUSED:
                log.error("Telegram would not take a message to %s: %s", chat_id, result.detail)
            self.recorder.note(f"{CHAT_CURSOR}{chat_id}", upto)

    async def _moved(self, chat: ChatRecord, old: int, new: int) -> int:
        """A group became a supergroup: its subscription goes with it."""
        log.info("group %s is now %s: its subscription moves with it", old, new)
        await self.chats.subscribe_chat(new, chat.region_id, chat.lang, Seq(0))
        await self.chats.unsubscribe_chat(old)
        return new


class Flights:
    """At most `limit` deliveries at once; the first failure is raised by finish()."""

    def __init__(self, limit: int) -> None:
        self._room = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._failed: BaseException | None = None

    async def start(self, work: Coroutine[Any, Any, None]) -> None:
        if self._failed is not None:
            work.close()
            raise self._failed
        await self._room.acquire()
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._room.release()
        if not task.cancelled() and task.exception() is not None and self._failed is None:
            self._failed = task.exception()

    async def finish(self) -> None:
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._failed is not None:
            raise self._failed

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
