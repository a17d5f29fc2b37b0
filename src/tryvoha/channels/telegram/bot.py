"""The bot's side of a conversation: an update in, the replies to send out.

`/start` offers the oblasts as buttons, then the raions, then the hromadas (or "all of
it" at each step); a shared location subscribes the chat to the hromada there, found as
/api/v1/locate finds it (`geo.locate`); `/my` shows the subscription, `/stop` ends it,
`/status` tells what is in force at the place now, `/lang` switches between Ukrainian and
English. The replies are aiogram method objects, returned, not sent: the sender paces
them with every other message, and the conversation is tested without a network.

A button's data carries its language and region: `o:uk:<oblast>` (show its raions),
`r:uk:<raion>` (its hromadas), `s:uk:<region>` (subscribe), `b:uk` (back to the oblasts),
`l:en` (language); at most 24 bytes of Telegram's 64.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, TelegramMethod
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    User,
)

from tryvoha import i18n
from tryvoha.domain.alerts import AlertLevel
from tryvoha.domain.events import Seq
from tryvoha.domain.projection import Projection
from tryvoha.domain.regions import COUNTRY, Level, RegionId
from tryvoha.geo.locate import Location
from tryvoha.i18n.formats import since_text, sort_key
from tryvoha.protocol.telegram import EMOJI_CLEAR, EMOJI_RED, EMOJI_YELLOW, Names, Wording
from tryvoha.store.base import ChatRecord, TelegramChats

BOT_LANGUAGES = ("uk", "en")
COMMANDS = ("start", "my", "status", "lang", "stop")
MAX_STATUS_LINES = 20
BUTTONS_PER_ROW = 3
Reply = TelegramMethod[Any]
Locate = Callable[[float, float], Awaitable[Location | None]]  # lon, lat


def language_of(user: User | None) -> str:
    """English for those whose Telegram speaks English; Ukrainian for everyone else."""
    code = (user.language_code or "") if user else ""
    return "en" if code.split("-")[0].lower() == "en" else "uk"


def commands(lang: str) -> list[BotCommand]:
    """The bot's menu of commands, for setMyCommands."""
    t = i18n.catalogue(lang)
    return [BotCommand(command=c, description=t(f"tg.cmd.{c}")) for c in COMMANDS]


@dataclass
class Conversation:
    chats: TelegramChats
    wording: Wording
    projection: Callable[[], Projection]
    announced: Callable[[], Seq]  # the newest event this process has: a subscription's start
    locate: Locate
    short: Names  # a button's label: the short name ("Сумська" under "Оберіть область")
    changed: Callable[[int], None] = lambda chat: None  # a chat (un)subscribed
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def handle(self, update: Update) -> list[Reply]:
        if update.message is not None:
            return await self._message(update.message)
        if update.callback_query is not None:
            return await self._button(update.callback_query)
        return []

    # -- messages ---------------------------------------------------------------------

    async def _message(self, message: Message) -> list[Reply]:
        chat = message.chat.id
        record = await self.chats.get_chat(chat)
        lang = record.lang if record else language_of(message.from_user)
        t = i18n.catalogue(lang)
        private = message.chat.type == "private"
        if message.location is not None:
            where = message.location
            return await self._located(chat, where.longitude, where.latitude, lang)
        text = (message.text or "").strip()
        if not text.startswith("/"):
            return [_say(chat, t("tg.bot.help"))] if private else []
        command = text.split()[0][1:].split("@")[0].lower()
        if command == "start":
            menu = _say(chat, t("tg.bot.pick_oblast"), self._oblasts(lang))
            if not private:  # a location button works only in a private chat
                return [menu]
            share = KeyboardButton(text=t("tg.bot.share_location"), request_location=True)
            keyboard = ReplyKeyboardMarkup(
                keyboard=[[share]], resize_keyboard=True, one_time_keyboard=True
            )
            return [_say(chat, t("tg.bot.welcome"), keyboard), menu]
        if command == "my":
            return [_say(chat, self._my(record, t))]
        if command == "stop":
            await self.chats.unsubscribe_chat(chat)
            self.changed(chat)
            return [_say(chat, t("tg.bot.stopped"))]
        if command == "status":
            if record is None:
                return [_say(chat, t("tg.bot.none"))]
            return [_say(chat, self._status(record.region_id, t))]
        if command == "lang":
            buttons = [[_button(i18n.NAMES[code], f"l:{code}")] for code in BOT_LANGUAGES]
            return [
                _say(chat, t("tg.bot.pick_language"), InlineKeyboardMarkup(inline_keyboard=buttons))
            ]
        return [_say(chat, t("tg.bot.help"))]

    async def _located(self, chat: int, lon: float, lat: float, lang: str) -> list[Reply]:
        t = i18n.catalogue(lang)
        found = await self.locate(lon, lat)
        if found is None:
            return [_say(chat, t("locate.outside"))]
        region = found.most_specific.id
        text = await self._subscribe(chat, region, lang)
        if found.approximate:
            text = text.replace("\n\n", f" {t('locate.approximate')}\n\n", 1)
        return [_say(chat, text, ReplyKeyboardRemove())]

    def _my(self, record: ChatRecord | None, t: i18n.Catalogue) -> str:
        if record is None:
            return t("tg.bot.none")
        place = self._place(record.region_id, t.lang)
        return (
            f"{t('tg.bot.my', name=place, language=i18n.NAMES[record.lang])}\n\n{t('tg.bot.help')}"
        )

    # -- buttons ------------------------------------------------------------------------

    async def _button(self, query: CallbackQuery) -> list[Reply]:
        done: list[Reply] = [AnswerCallbackQuery(callback_query_id=query.id)]
        kind, _, rest = (query.data or "").partition(":")
        lang, _, region = rest.partition(":")
        if lang not in BOT_LANGUAGES or query.message is None:
            return done
        chat, message_id = query.message.chat.id, query.message.message_id
        t = i18n.catalogue(lang)
        tree = self.wording.tree
        if kind == "l":
            if await self.chats.set_chat_language(chat, lang):
                return [*done, _say(chat, t("tg.bot.language_set", language=i18n.NAMES[lang]))]
            return [*done, _say(chat, t("tg.bot.pick_oblast"), self._oblasts(lang))]
        if kind == "b":
            return [*done, _edit(chat, message_id, t("tg.bot.pick_oblast"), self._oblasts(lang))]
        if region not in tree:
            return done
        children = tree.children(RegionId(region))
        if kind == "s" or not children:
            text = await self._subscribe(chat, RegionId(region), lang)
            return [*done, _edit(chat, message_id, text)]
        name = self.wording.name(RegionId(region), lang)
        step = "r" if tree.get(region).level is Level.OBLAST else "s"
        back = "b" if step == "r" else f"o:{lang}:{tree.get(region).parent_id}"
        menu = self._menu(children, step, lang, whole=RegionId(region), back=back)
        ask = "tg.bot.pick_raion" if step == "r" else "tg.bot.pick_hromada"
        return [*done, _edit(chat, message_id, t(ask, name=name), menu)]

    def _oblasts(self, lang: str) -> InlineKeyboardMarkup:
        return self._menu(self.wording.tree.children(COUNTRY), "o", lang)

    def _menu(
        self,
        regions: Sequence[RegionId],
        step: str,
        lang: str,
        whole: RegionId | None = None,
        back: str | None = None,
    ) -> InlineKeyboardMarkup:
        short = self.short
        ordered = sorted(regions, key=lambda r: sort_key(short(r, lang)))
        buttons = [_button(short(r, lang), f"{step}:{lang}:{r}") for r in ordered]
        per_row = BUTTONS_PER_ROW
        rows = [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
        t = i18n.catalogue(lang)
        if whole is not None:
            label = t("tg.bot.whole", name=self.wording.name(whole, lang))
            rows.insert(0, [_button(label, f"s:{lang}:{whole}")])
        if back is not None:
            rows.append([_button(t("tg.bot.back"), back if ":" in back else f"{back}:{lang}")])
        return InlineKeyboardMarkup(inline_keyboard=rows)

    # -- subscribing and the state now ----------------------------------------------------

    async def _subscribe(self, chat: int, region: RegionId, lang: str) -> str:
        await self.chats.subscribe_chat(chat, region, lang, self.announced())
        self.changed(chat)
        t = i18n.catalogue(lang)
        subscribed = t("tg.bot.subscribed", name=self._place(region, lang))
        return f"{subscribed}\n\n{self._status(region, t)}"

    def _place(self, region: RegionId, lang: str) -> str:
        """A region's name, with the raion and oblast it lies in."""
        tree, name = self.wording.tree, self.wording.name
        above = [name(r, lang) for r in tree.ancestors(region) if r != COUNTRY]
        return f"{name(region, lang)} ({', '.join(above)})" if above else name(region, lang)

    def _status(self, region: RegionId, t: i18n.Catalogue) -> str:
        """Every alert in force that concerns the region, the newest first."""
        tree, now = self.wording.tree, self.clock()
        alerts = sorted(
            (a for a in self.projection().active() if tree.related(region, a.region_id)),
            key=lambda a: a.started_at,
            reverse=True,
        )
        if not alerts:
            return f"{EMOJI_CLEAR} {t('myplace.clear')}"
        lines = []
        for a in alerts[:MAX_STATUS_LINES]:
            emoji = EMOJI_YELLOW if a.level is AlertLevel.YELLOW else EMOJI_RED
            headline = t(
                f"cap.headline.{a.level.value}",
                threat=t(f"threat.{a.threat.value}"),
                area=self.wording.name(a.region_id, t.lang),
            )
            lines.append(
                f"{emoji} {headline}, {t('region.alert_since', time=since_text(a.started_at, now))}"
            )
        if len(alerts) > MAX_STATUS_LINES:
            lines.append(t("tg.and_more", n=len(alerts) - MAX_STATUS_LINES))
        return "\n".join(lines)


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def _say(chat: int, text: str, markup: Any = None) -> SendMessage:
    return SendMessage(chat_id=chat, text=text, reply_markup=markup)


def _edit(
    chat: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> EditMessageText:
    return EditMessageText(chat_id=chat, message_id=message_id, text=text, reply_markup=markup)
