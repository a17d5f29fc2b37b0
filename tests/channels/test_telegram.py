"""Telegram, end to end in one process: the app with its real store (both backends), the
real aiogram client, and a stand-in Bot API server on loopback (tests/support/telegram.py)
that a scripted user talks to."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.conftest import KYIV_CITY, LVIV
from tests.support.server import timeout
from tests.support.telegram import TOKEN, StandInBotApi
from tryvoha.config import Settings
from tryvoha.data import region_tree
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import Level
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import issue_token
from tryvoha.server.app import create_app
from tryvoha.server.services import Services
from tryvoha.store.base import CHAT_CURSOR

pytestmark = pytest.mark.anyio

LVIV_CENTRE = (49.8419, 24.0315)  # lat, lon: Rynok Square
SUMY = "UA59000000000057109"


@pytest.fixture
def bot_api() -> Iterator[StandInBotApi]:
    api = StandInBotApi().start()
    yield api
    api.stop()


class Server:
    def __init__(self, client: httpx.AsyncClient, services: Services) -> None:
        self.client = client
        self.services = services
        self.auth: dict[str, str] = {}

    async def declare(self, *regions: str, **body: Any) -> dict[str, Any]:
        return await self._write("/api/v1/alerts", {"regions": list(regions), **body})

    async def clear(self, region: str) -> dict[str, Any]:
        return await self._write(f"/api/v1/regions/{region}/clear", None)

    async def _write(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {**self.auth, "Idempotency-Key": uuid.uuid4().hex}
        answer = await self.client.post(path, json=body, headers=headers)
        assert answer.status_code in (200, 201), answer.text
        result: dict[str, Any] = answer.json()
        return result


@asynccontextmanager
async def serving(store_url: str, bot_api: StandInBotApi, **settings: Any) -> AsyncIterator[Server]:
    """The app in-process with Telegram configured, and an issuer's token for the country."""
    app = create_app(
        Settings(store=store_url, telegram_token=TOKEN, telegram_api_url=bot_api.url, **settings)
    )
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tryvoha.test") as c:
            server = Server(c, services)
            name = f"ua-{uuid.uuid4().hex[:8]}"
            issued = await issue_token(services.store, region_tree(), name, Role.ISSUER, ["UA"])
            server.auth = {"Authorization": f"Bearer {issued.secret}"}
            await bot_api.until(lambda b: "getUpdates" in b.calls)  # the bot is listening
            yield server


async def recorded(services: Services, name: str) -> Seq:
    """The cursor `name` once it has caught up with the feed (commits are batched)."""
    deadline = time.monotonic() + timeout(10)
    while True:
        found = (await services.store.read_cursors(name)).get(name)
        if found == services.engine.feed.announced or time.monotonic() > deadline:
            return Seq(found or 0)
        await asyncio.sleep(0.05)


def texts(bot_api: StandInBotApi, chat: int | str) -> list[str]:
    return [s.text for s in bot_api.to(chat)]


async def test_channel_posts_arrive_once_each_in_order_grouped(
    store_url: str, bot_api: StandInBotApi
) -> None:
    oblasts = [r.id for r in region_tree().at_level(Level.OBLAST)]
    channels = ["@ua_alerts", "@kyiv_alerts:en=Kyiv"]
    async with serving(store_url, bot_api, telegram_channel=channels) as server:
        await server.declare(*oblasts, threats=["ballistic_missiles"])
        await server.clear(KYIV_CITY)
        await server.declare(LVIV, level="yellow")  # already red there: answered as it is
        await server.clear("UA")  # the rest, together
        await bot_api.until(
            lambda b: len(b.to("@ua_alerts")) == 3 and len(b.to("@kyiv_alerts")) == 2
        )
        ua = texts(bot_api, "@ua_alerts")
        assert ua[0].startswith("🔴 Повітряна тривога: вся Україна\n27 областей\nОголошено о ")
        assert ua[0].endswith("Загрози: Балістичні ракети.")
        assert ua[1].startswith("🟢 Відбій тривоги: м. Київ\nВідбій о ")
        assert ua[2].startswith("🟢 Відбій тривоги: 26 областей\n")
        kyiv = texts(bot_api, "@kyiv_alerts")
        assert kyiv[0].startswith("🔴 Air raid alert: Kyiv City\nDeclared at ")
        assert kyiv[1].startswith("🟢 All clear: Kyiv City\nAll clear at ")
        announced = server.services.engine.feed.announced
        assert await recorded(server.services, "telegram:channel:@ua_alerts") == announced
    # a restart sends nothing again
    async with serving(store_url, bot_api, telegram_channel=channels) as server:
        await server.declare(KYIV_CITY)
        await bot_api.until(lambda b: len(b.to("@kyiv_alerts")) == 3)
        assert len(bot_api.to("@ua_alerts")) == 4
        assert bot_api.to("@ua_alerts")[3].text.startswith("🔴 Повітряна тривога: м. Київ\n")


async def test_a_location_in_lviv_subscribes_to_its_hromada(
    store_url: str, bot_api: StandInBotApi
) -> None:
    """A user who shares a location in Lviv gets a direct message when Lviv oblast is
    declared, and none for Kyiv."""
    async with serving(store_url, bot_api) as server:
        bot_api.user_shares_location(1001, *LVIV_CENTRE)
        await bot_api.until(lambda b: len(b.to(1001)) == 1)
        [subscribed] = texts(bot_api, 1001)
        assert subscribed.startswith(
            "✅ Ви підписані: Львівська територіальна громада (Львівський район, Львівська область)."
        )
        assert subscribed.endswith("🟢 Зараз тут тривоги немає.")
        record = await server.services.store.get_chat(1001)
        assert record is not None and record.lang == "uk"
        assert region_tree().get(record.region_id).level is Level.HROMADA
        await server.declare(KYIV_CITY)
        await server.declare(LVIV, threats=["drones"], message={"uk": "Прямуйте в укриття."})
        await bot_api.until(lambda b: len(b.to(1001)) == 2)
        warning = texts(bot_api, 1001)[1]
        assert warning.startswith("🔴 Повітряна тривога: Львівська область\nОголошено о ")
        assert warning.endswith("Загрози: Ударні БпЛА.\nПрямуйте в укриття.")
        await server.clear(KYIV_CITY)
        await server.clear(LVIV)
        await bot_api.until(lambda b: len(b.to(1001)) == 3)
        assert texts(bot_api, 1001)[2].startswith("🟢 Відбій тривоги: Львівська область\n")
        assert not any("Київ" in t for t in texts(bot_api, 1001))
        announced = server.services.engine.feed.announced
        assert await recorded(server.services, f"{CHAT_CURSOR}1001") == announced


async def test_start_buttons_my_status_lang_and_stop(
    store_url: str, bot_api: StandInBotApi
) -> None:
    async with serving(store_url, bot_api) as server:
        await server.declare(SUMY)
        bot_api.user_says(2002, "/start")
        await bot_api.until(lambda b: len(b.to(2002)) == 2)
        welcome, menu = bot_api.to(2002)
        assert welcome.markup == {
            "keyboard": [[{"text": "📍 Надіслати моє місце", "request_location": True}]],
            "resize_keyboard": True,
            "one_time_keyboard": True,
        }
        assert menu.text == "Оберіть область:"
        assert len(menu.buttons()) == 27
        assert list(menu.buttons())[:3] == ["АР Крим", "Вінницька", "Волинська"]
        for press, then in [
            ("Сумська", "Сумська область: оберіть район."),
            ("Шосткинський", "Шосткинський район: оберіть громаду."),
            ("Шосткинська", "✅ Ви підписані: Шосткинська територіальна громада"),
        ]:
            shown = bot_api.to(2002)[-1]
            bot_api.user_presses(2002, shown, press)
            await bot_api.until(lambda b, shown=shown: b.to(2002)[-1] != shown)
            assert bot_api.to(2002)[-1].text.startswith(then)
        done = bot_api.to(2002)[-1]
        assert done.method == "editMessageText" and done.message_id == menu.message_id
        assert "🔴 Повітряна тривога: Сумська область, з " in done.text  # the state now
        for command, expect in [
            (
                "/my",
                "Ваше місце: Шосткинська територіальна громада (Шосткинський район, Сумська область). Мова: Українська.",
            ),
            ("/status", "🔴 Повітряна тривога: Сумська область, з "),
        ]:
            before = len(bot_api.to(2002))
            bot_api.user_says(2002, command)
            await bot_api.until(lambda b, n=before: len(b.to(2002)) == n + 1)
            assert bot_api.to(2002)[-1].text.startswith(expect)
        bot_api.user_says(2002, "/lang")
        await bot_api.until(lambda b: b.to(2002)[-1].text == "Оберіть мову:")
        bot_api.user_presses(2002, bot_api.to(2002)[-1], "English")
        await bot_api.until(lambda b: b.to(2002)[-1].text == "Language: English.")
        await server.clear(SUMY)
        await bot_api.until(lambda b: b.to(2002)[-1].text.startswith("🟢 All clear: Sumy Oblast\n"))
        bot_api.user_says(2002, "/stop")
        await bot_api.until(lambda b: b.to(2002)[-1].text.startswith("Unsubscribed"))
        assert await server.services.store.get_chat(2002) is None
        await server.declare(SUMY)
        bot_api.user_says(2002, "/my")
        # unsubscribed, it speaks the language of the user's Telegram again
        await bot_api.until(lambda b: b.to(2002)[-1].text.startswith("Ви ще не підписані"))
        assert not any(t.startswith("🔴") for t in texts(bot_api, 2002)[-3:])


async def test_direct_messages_keep_telegrams_limits_and_wait_out_429s(
    store_url: str, bot_api: StandInBotApi
) -> None:
    """60 subscribers, a declare for all of them: about 30 messages a second at most, a
    429 holds every message for its retry_after, each chat gets its message once."""
    chats = list(range(5001, 5061))
    async with serving(store_url, bot_api) as server:
        store = server.services.store
        for chat in chats:
            await store.subscribe_chat(chat, LVIV, "en", server.services.engine.feed.announced)
        bot_api.script.too_many, bot_api.script.retry_after = 3, 1
        await server.declare(LVIV)
        await bot_api.until(lambda b: all(b.to(c) for c in chats))
        sent = [s for s in bot_api.sent if s.chat in chats]
        assert sorted(s.chat for s in sent) == chats  # once each
        assert all(s.text.startswith("🔴 Air raid alert: Lviv Oblast\n") for s in sent)
        refused = [at for at, why, _ in bot_api.refused if why == "429"]
        assert len(refused) == 3
        for at in refused:  # nothing was sent during a retry_after
            assert not [s for s in sent if at < s.at < at + 0.95]
        times = sorted(s.at for s in sent)
        assert all(sum(1 for t in times if start <= t < start + 1.0) <= 31 for start in times)
        assert server.services.keepers[0].holding  # this process holds the lease


async def test_a_chat_that_blocked_the_bot_is_unsubscribed(
    store_url: str, bot_api: StandInBotApi
) -> None:
    async with serving(store_url, bot_api) as server:
        store = server.services.store
        for chat in (7001, 7002):
            await store.subscribe_chat(chat, KYIV_CITY, "uk", Seq(0))
        bot_api.script.blocked.add(7001)
        await server.declare(KYIV_CITY)
        await bot_api.until(lambda b: len(b.to(7002)) == 1 and len(b.refused) == 1)
        await bot_api.until(lambda b: True)
        for _ in range(100):
            if await store.get_chat(7001) is None:
                break
            await bot_api.until(lambda b: True, 0.05)
        assert await store.get_chat(7001) is None
        assert await store.get_chat(7002) is not None
        await server.clear(KYIV_CITY)
        await bot_api.until(lambda b: len(b.to(7002)) == 2)
        assert [why for _, why, _ in bot_api.refused] == ["403"]  # never tried again
