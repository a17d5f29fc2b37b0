"""The Telegram channel of one serving process: while it holds the `telegram` lease, it
posts to the channels, sends the direct messages and answers the bot's updates.

Every serving process (any --workers, any writer machine) runs a LeaseKeeper for it; the
one holding the lease runs `deliver`, so one process sends at a time and Telegram's
limits are kept by one schedule. A process that takes over starts from the cursors in the
store: each channel's, each chat's, and `telegram:direct`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.methods import DeleteWebhook, GetMe, SetMyCommands

from tryvoha.channels.lease import Holding, LeaseKeeper
from tryvoha.channels.source import EventSource
from tryvoha.channels.telegram.bot import Conversation, commands
from tryvoha.channels.telegram.direct import DIRECT_CURSOR, DirectMessages
from tryvoha.channels.telegram.pace import Pace
from tryvoha.channels.telegram.posts import ChannelPoster
from tryvoha.channels.telegram.record import Recorder
from tryvoha.channels.telegram.sender import RETRY_SECONDS, Sender
from tryvoha.channels.telegram.updates import Updates
from tryvoha.config import Settings
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionTree
from tryvoha.engine.feed import Feed
from tryvoha.geo.locate import Location, shared_locator
from tryvoha.protocol.telegram import CHANNEL_CURSOR, Wording
from tryvoha.store.base import Store
from tryvoha.web.names import display_name, short_name

log = logging.getLogger(__name__)

LEASE = "telegram"
BAD_TOKEN_SECONDS = 60.0  # a token Telegram does not know: asked again this often


async def _locate(lon: float, lat: float) -> Location | None:
    return (await shared_locator()).locate(lon, lat)


class TelegramChannel:
    def __init__(self, settings: Settings, store: Store, feed: Feed, tree: RegionTree) -> None:
        self.settings = settings
        self.store = store
        self.feed = feed
        self.wording = Wording(tree, display_name)
        self.running: dict[str, Any] = {}  # what the current delivery runs, for tests and logs

    def keeper(self) -> LeaseKeeper:
        return LeaseKeeper(self.store, LEASE, self.deliver)

    def bot(self) -> Bot:
        api = TelegramAPIServer.from_base(self.settings.telegram_api_url)
        return Bot(self.settings.telegram_token.get_secret_value(), session=AiohttpSession(api=api))

    async def deliver(self, holding: Holding) -> None:
        bot = self.bot()
        recorder = Recorder(holding)
        tasks: list[asyncio.Task[None]] = []
        try:
            sender = Sender(bot, Pace(self.settings.telegram_rate))
            await self._introduce(sender)
            work = await self._work(sender, recorder)
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(w) for w in [recorder.run(), *work]]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # the first failure ends this delivery (the keeper starts anew)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await recorder.close()
            await bot.session.close()
            self.running = {}

    async def _introduce(self, sender: Sender) -> None:
        """Who the bot is (the token works), no webhook in the way of getUpdates, and its
        menu of commands; until Telegram answers."""
        failures = 0
        while True:
            try:
                me = await sender.ask(GetMe())
                await sender.ask(DeleteWebhook(drop_pending_updates=False))
                for lang in ("en", "uk"):
                    code = None if lang == "uk" else lang
                    await sender.ask(SetMyCommands(commands=commands(lang), language_code=code))
                log.info("Telegram: delivering as @%s", me.username)
                return
            except TelegramUnauthorizedError:
                log.error("Telegram does not know the bot token given (--telegram-token)")
                await asyncio.sleep(BAD_TOKEN_SECONDS)
            except TelegramAPIError as e:
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("Telegram did not answer (%s); trying again in %s s", e, wait)
                await asyncio.sleep(wait)

    async def _work(self, sender: Sender, recorder: Recorder) -> list[Coroutine[Any, Any, None]]:
        """What to run: the bot, the direct messages and one poster per channel, each from
        its cursor (a new one starts now: a new bot does not replay the past)."""
        source = EventSource(self.feed, self.store)
        cursors = {
            **await self.store.read_cursors(DIRECT_CURSOR),
            **await self.store.read_cursors(CHANNEL_CURSOR),
        }  # not the chats' cursors: there may be 100,000
        now = self.feed.announced
        for name in [DIRECT_CURSOR, *(c.cursor for c in self.settings.telegram_channel)]:
            if name not in cursors:
                cursors[name] = now
                recorder.note(name, now)
        conversation = Conversation(
            self.store,
            self.wording,
            lambda: self.feed.projection,
            lambda: self.feed.announced,
            _locate,
            short_name,
        )
        direct = DirectMessages(self.store, source, sender, recorder, self.wording)
        conversation.changed = direct.changed
        updates = Updates(sender, conversation)
        posters = [
            ChannelPoster(
                spec, source, sender, recorder, self.wording, lambda: self.feed.projection
            )
            for spec in self.settings.telegram_channel
        ]
        self.running = {
            "sender": sender,
            "recorder": recorder,
            "direct": direct,
            "updates": updates,
        }
        return [
            updates.run(),
            direct.run(Seq(cursors[DIRECT_CURSOR])),
            *(p.run(Seq(cursors[p.spec.cursor])) for p in posters),
        ]
