"""What people send the bot, read by long polling (getUpdates) and answered in turn.

Only the process holding the lease polls (Telegram lets one reader poll a bot at a time).
An update is confirmed by asking for the ones after it; one that was being answered when
the process died is read again and answered again (the answers are menus and
confirmations, never alerts: subscribing twice is subscribing once).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, GetUpdates, TelegramMethod

from tryvoha.channels.telegram.bot import Conversation
from tryvoha.channels.telegram.sender import RETRY_SECONDS, Outcome, Sender

log = logging.getLogger(__name__)

POLL_SECONDS = 25  # how long Telegram holds a getUpdates open when there is nothing
CONFLICT_SECONDS = 30.0  # another program reads this bot's updates: ask again after this
ALLOWED = ["message", "callback_query"]


class Updates:
    def __init__(
        self, sender: Sender, conversation: Conversation, poll_seconds: int = POLL_SECONDS
    ) -> None:
        self.sender = sender
        self.conversation = conversation
        self.poll_seconds = poll_seconds
        self.handled = 0

    async def run(self) -> None:
        offset: int | None = None
        failures = 0
        while True:
            ask = GetUpdates(offset=offset, timeout=self.poll_seconds, allowed_updates=ALLOWED)
            try:
                updates = await self.sender.ask(ask, timeout=self.poll_seconds + 10)
            except TelegramConflictError as e:
                log.error("another program reads this bot's updates (%s); the bot waits", e)
                await asyncio.sleep(CONFLICT_SECONDS)
                continue
            except TelegramRetryAfter as e:
                await asyncio.sleep(e.retry_after)
                continue
            except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as e:
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("could not read the bot's updates (%s); again in %s s", e, wait)
                await asyncio.sleep(wait)
                continue
            failures = 0
            for update in updates:
                offset = update.update_id + 1
                try:
                    replies = await self.conversation.handle(update)
                except Exception:
                    log.exception("could not answer update %s", update.update_id)
                    continue
                for reply in replies:
                    await self._reply(reply)
                self.handled += 1

    async def _reply(self, method: TelegramMethod[Any]) -> None:
        if isinstance(method, AnswerCallbackQuery):  # not a message: not paced
            try:
                await self.sender.ask(method)
            except TelegramAPIError as e:
                log.debug("a button's answer was not taken: %s", e)
            return
        chat = getattr(method, "chat_id", None)
        if not isinstance(chat, int | str):
            return
        result = await self.sender.call(chat, method)
        if result.outcome is Outcome.GONE and isinstance(chat, int):
            await self.conversation.chats.unsubscribe_chat(chat)
            self.conversation.changed(chat)
        elif result.outcome is Outcome.REFUSED:
            log.debug("a reply to %s was not taken: %s", chat, result.detail)
