"""A stand-in Telegram Bot API server on loopback, for the tests (`--telegram-api-url`).

It answers the methods tryvoha calls (getMe, deleteWebhook, setMyCommands, getUpdates,
sendMessage, editMessageText, answerCallbackQuery) the way Telegram does, over real HTTP,
and keeps what it was sent. A test scripts it: a user's updates (commands, a location,
a button pressed), 429s with `retry_after`, chats that blocked the bot (403). It runs in
a thread of its own, so a test may drive it while a `tryvoha serve` process talks to it.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.support.server import timeout

TOKEN = "123456789:TEST-token-of-the-stand-in-bot"


@dataclass(frozen=True)
class Sent:
    """One message the bot sent (or a text it edited)."""

    at: float  # time.monotonic() when it arrived
    method: str
    chat: int | str
    text: str
    markup: dict[str, Any] | None
    message_id: int
    paid: bool = False

    def buttons(self) -> dict[str, str]:
        """An inline keyboard's buttons: text -> callback data."""
        rows = (self.markup or {}).get("inline_keyboard", [])
        return {b["text"]: b["callback_data"] for row in rows for b in row}


@dataclass
class Script:
    """What the stand-in does besides answering: set by the test, read by the server."""

    too_many: int = 0  # the next this many sendMessage get 429
    retry_after: int = 1
    blocked: set[int | str] = field(default_factory=set)  # these chats answer 403
    on_sent: Callable[[Sent], None] | None = None  # called for every message, in its thread


class StandInBotApi:
    def __init__(self, keep: bool = True) -> None:
        self.keep = keep  # False: count messages only (a bench sends 100,000)
        self.received = 0
        self.sent: list[Sent] = []
        self.refused: list[tuple[float, str, int | str]] = []  # (time, reason, chat)
        self.calls: list[str] = []
        self.script = Script()
        self._updates: list[dict[str, Any]] = []
        self._next_update = itertools.count(1)
        self._next_message = itertools.count(1)
        self._lock = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._closing = False

    # -- the server ---------------------------------------------------------------------

    def start(self) -> StandInBotApi:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(timeout(10)):
            raise TimeoutError("the stand-in Bot API did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._arrived = asyncio.Event()
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        ready.set()
        loop.run_forever()
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._closing = True
            loop = self._loop
            assert self._arrived is not None and self._runner is not None
            loop.call_soon_threadsafe(self._arrived.set)  # long polls answer at once
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(timeout(10))
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout(10))

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        form = dict(await request.post())
        with self._lock:
            if self.keep or method != "sendMessage":
                self.calls.append(method)
        if method == "getUpdates":
            return await self._get_updates(form)
        if method in ("sendMessage", "editMessageText"):
            return self._message(method, form)
        if method == "getMe":
            return _ok(
                {
                    "id": 123456789,
                    "is_bot": True,
                    "first_name": "Tryvoha",
                    "username": "tryvoha_test_bot",
                }
            )
        if method in ("deleteWebhook", "setMyCommands", "answerCallbackQuery"):
            return _ok(True)
        return _error(404, "Not Found: method not found")

    def _message(self, method: str, form: dict[str, Any]) -> web.Response:
        chat: int | str = form["chat_id"]
        chat = int(chat) if str(chat).lstrip("-").isdigit() else str(chat)
        with self._lock:
            if method == "sendMessage" and self.script.too_many > 0:
                self.script.too_many -= 1
                self.refused.append((time.monotonic(), "429", chat))
                wait = self.script.retry_after
                return _error(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
            if chat in self.script.blocked:
                self.refused.append((time.monotonic(), "403", chat))
                return _error(403, "Forbidden: bot was blocked by the user")
            markup = orjson.loads(form["reply_markup"]) if form.get("reply_markup") else None
            message_id = (
                int(form["message_id"]) if method == "editMessageText" else next(self._next_message)
            )
            sent = Sent(
                time.monotonic(),
                method,
                chat,
                str(form["text"]),
                markup,
                message_id,
                paid=form.get("allow_paid_broadcast") == "true",
            )
            self.received += 1
            if self.keep:
                self.sent.append(sent)
            self._lock.notify_all()
            hook = self.script.on_sent
        if hook is not None:
            hook(sent)
        return _ok(_message_json(chat, message_id, sent.text))

    async def _get_updates(self, form: dict[str, Any]) -> web.Response:
        offset = int(form.get("offset") or 0)
        wait = min(float(form.get("timeout") or 0), 5.0)
        deadline = time.monotonic() + wait
        assert self._arrived is not None
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                found = list(self._updates)
                self._arrived.clear()
            if found or self._closing or time.monotonic() >= deadline:
                return _ok(found)
            try:
                await asyncio.wait_for(self._arrived.wait(), deadline - time.monotonic())
            except TimeoutError:
                pass

    # -- a user, scripted ---------------------------------------------------------------

    def _push(self, update: dict[str, Any]) -> None:
        with self._lock:
            update["update_id"] = next(self._next_update)
            self._updates.append(update)
        assert self._loop is not None and self._arrived is not None
        self._loop.call_soon_threadsafe(self._arrived.set)

    def user_says(self, user: int, text: str, lang: str = "uk") -> None:
        message = _user_message(user, lang) | {"text": text}
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._push({"message": message})

    def user_shares_location(self, user: int, lat: float, lon: float, lang: str = "uk") -> None:
        location = {"latitude": lat, "longitude": lon}
        self._push({"message": _user_message(user, lang) | {"location": location}})

    def user_presses(self, user: int, on: Sent, button: str, lang: str = "uk") -> None:
        """The user presses the button labelled `button` on the bot's message `on`."""
        data = on.buttons()[button]
        self._push(
            {
                "callback_query": {
                    "id": f"cq{next(self._next_message)}",
                    "from": _user(user, lang),
                    "chat_instance": f"ci{user}",
                    "message": _message_json(user, on.message_id, on.text),
                    "data": data,
                }
            }
        )

    # -- what arrived -------------------------------------------------------------------

    def to(self, chat: int | str, method: str | None = None) -> list[Sent]:
        with self._lock:
            return [
                s for s in self.sent if s.chat == chat and (method is None or s.method == method)
            ]

    def wait_for(self, ready: Callable[[StandInBotApi], bool], seconds: float = 30) -> None:
        deadline = time.monotonic() + timeout(seconds)
        with self._lock:
            while not ready(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"the stand-in waited {seconds} s; it has {len(self.sent)} messages"
                    )
                self._lock.wait(min(left, 0.2))

    async def until(self, ready: Callable[[StandInBotApi], bool], seconds: float = 30) -> None:
        """wait_for, for a test whose event loop runs the server meanwhile."""
        deadline = time.monotonic() + timeout(seconds)
        while True:
            with self._lock:
                if ready(self):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the stand-in waited {seconds} s; it has {len(self.sent)} messages"
                )
            await asyncio.sleep(0.02)

    def count(self, method: str = "sendMessage") -> int:
        with self._lock:
            return sum(1 for s in self.sent if s.method == method)


def _ok(result: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps({"ok": True, "result": result}), content_type="application/json"
    )


def _error(status: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _user(user: int, lang: str) -> dict[str, Any]:
    return {"id": user, "is_bot": False, "first_name": f"User {user}", "language_code": lang}


def _chat(chat: int | str) -> dict[str, Any]:
    if isinstance(chat, str):
        return {
            "id": -1000000000000 - abs(hash(chat)) % 10**9,
            "type": "channel",
            "username": chat[1:],
        }
    return {"id": chat, "type": "private" if chat > 0 else "supergroup", "first_name": "U"}


def _message_json(chat: int | str, message_id: int, text: str) -> dict[str, Any]:
    return {"message_id": message_id, "date": int(time.time()), "chat": _chat(chat), "text": text}


def _user_message(user: int, lang: str) -> dict[str, Any]:
    return {
        "message_id": 10_000 + user,
        "date": int(time.time()),
        "chat": _chat(user),
        "from": _user(user, lang),
    }
