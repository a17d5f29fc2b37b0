"""Every message to Telegram goes through here: paced to Telegram's limits, a 429 waited
out for its `retry_after`, a network failure or a 5xx tried again, and the answers that
say "never again" (blocked, chat gone) told apart from those worth another try.

Only this module and its siblings in this package touch aiogram: the rest of tryvoha
gets outcomes, not exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage, TelegramMethod

from tryvoha.channels.telegram.pace import FREE_PER_SECOND, ChatId, Pace

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # after a network failure or a 5xx
GONE = ("chat not found", "user is deactivated", "peer_id_invalid", "bot was kicked")


class Outcome(Enum):
    SENT = "sent"
    GONE = "gone"  # blocked by the user, removed from the group, chat deleted: never again
    REFUSED = "refused"  # Telegram will not take this message (400): retrying cannot help
    MOVED = "moved"  # a group became a supergroup with another id (Result.moved_to)


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    detail: str = ""
    moved_to: int | None = None


class Sender:
    def __init__(
        self,
        bot: Bot,
        pace: Pace,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.bot = bot
        self.pace = pace
        self.clock = clock
        self.sleep = sleep
        # above Telegram's free rate, messages go as paid broadcasts (the bot's Stars)
        self.paid = pace.interval < 1.0 / FREE_PER_SECOND - 1e-9
        self._turn = asyncio.Lock()  # who takes the next slot: first come, first served
        self.sent = 0
        self.waited_429 = 0

    async def slot(self, chat: ChatId) -> None:
        """Wait until a message to `chat` may go, and take that moment."""
        await self.sleep(self.pace.chat_delay(chat, self.clock()))  # its own, outside the queue
        async with self._turn:
            while (wait := self.pace.delay(chat, self.clock())) > 0:
                await self.sleep(wait)
            self.pace.take(chat, self.clock())

    async def send(self, chat: ChatId, text: str) -> Result:
        method = SendMessage(chat_id=chat, text=text, allow_paid_broadcast=self.paid or None)
        return await self.call(chat, method)

    async def call(self, chat: ChatId, method: TelegramMethod[Any]) -> Result:
        """Call `method` for `chat` until Telegram takes it or says it never will."""
        failures = 0
        while True:
            await self.slot(chat)
            try:
                await self.bot(method)
                self.sent += 1
                return Result(Outcome.SENT)
            except TelegramRetryAfter as e:
                self.waited_429 += 1
                log.warning(
                    "Telegram asks to wait %s s (429); holding every message", e.retry_after
                )
                self.pace.hold(self.clock() + e.retry_after)
            except TelegramMigrateToChat as e:
                return Result(Outcome.MOVED, e.message, e.migrate_to_chat_id)
            except TelegramForbiddenError as e:
                return Result(Outcome.GONE, e.message)
            except (TelegramBadRequest, TelegramNotFound) as e:
                gone = any(reason in e.message.lower() for reason in GONE)
                return Result(Outcome.GONE if gone else Outcome.REFUSED, e.message)
            except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as e:
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("Telegram did not answer (%s); trying again in %s s", e, wait)
                await self.sleep(wait)

    async def ask(self, method: TelegramMethod[T], timeout: int | None = None) -> T:
        """A request that is not a message (getMe, getUpdates, answerCallbackQuery): not
        paced, no retry; the caller decides."""
        return await self.bot(method, request_timeout=timeout)
