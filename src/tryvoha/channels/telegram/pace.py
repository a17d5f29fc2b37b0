"""Telegram's limits as a schedule: when the next message to a chat may go.

Telegram asks a bot to send about 30 messages a second in all, at most one a second to
one chat and 20 a minute to one group or channel; past that it answers 429 with
`retry_after`, and nothing may be sent before then. The schedule spaces messages evenly
(1/30 s apart, not bursts of 30), remembers only the chats sent to within the last
second and the groups within the last minute (memory bounded by the rate, not by the
number of subscribers), and holds everything after a 429. Pure: the clock is passed in.
"""

from __future__ import annotations

from collections import deque

ChatId = int | str  # a user or group id, or a channel's @name

FREE_PER_SECOND = 30  # Telegram's free limit on messages a second, in all
CHAT_SECONDS = 1.0  # between two messages to one chat
GROUP_PER_MINUTE = 20  # messages a minute to one group or channel
MINUTE = 60.0


def is_group(chat: ChatId) -> bool:
    """Groups and channels: negative ids and @names (a person's chat id is positive)."""
    return isinstance(chat, str) or chat < 0


class Pace:
    def __init__(
        self,
        per_second: float = FREE_PER_SECOND,
        chat_seconds: float = CHAT_SECONDS,
        group_per_minute: int = GROUP_PER_MINUTE,
    ) -> None:
        self.interval = (1.0 + 1e-9) / per_second  # a hair apart: at most N in any second
        self.chat_seconds = chat_seconds
        self.group_per_minute = group_per_minute
        self.next_any = 0.0  # when the next message, to anyone, may go
        self.held_until = 0.0  # a 429's retry_after: nothing before this
        self._chats: dict[ChatId, float] = {}  # chat -> when its next message may go
        self._groups: dict[ChatId, deque[float]] = {}  # group -> its sends in the last minute

    def chat_delay(self, chat: ChatId, now: float) -> float:
        """Seconds until this chat may have its next message (its own limits only)."""
        ready = self._chats.get(chat, 0.0)
        sent = self._groups.get(chat)
        if sent is not None and len(sent) >= self.group_per_minute:
            ready = max(ready, sent[0] + MINUTE)
        return max(0.0, ready - now)

    def delay(self, chat: ChatId, now: float) -> float:
        """Seconds until a message to this chat may go, all limits counted."""
        ready = max(self.next_any, self.held_until)
        return max(ready - now, self.chat_delay(chat, now))

    def take(self, chat: ChatId, now: float) -> None:
        """A message goes to `chat` now (delay() said 0)."""
        self.next_any = max(self.next_any, now) + self.interval
        self._forget(now)
        self._chats.pop(chat, None)  # re-inserted last: the dict stays in time order
        self._chats[chat] = now + self.chat_seconds
        if is_group(chat):
            self._groups.setdefault(chat, deque()).append(now)

    def hold(self, until: float) -> None:
        """Telegram said 429: nothing goes before `until`."""
        self.held_until = max(self.held_until, until)

    def _forget(self, now: float) -> None:
        chats = self._chats
        while chats:
            first = next(iter(chats))
            if chats[first] > now:
                break
            del chats[first]
        for group in [g for g, sent in self._groups.items() if sent[-1] <= now - MINUTE]:
            del self._groups[group]
        for sent in self._groups.values():
            while sent and sent[0] <= now - MINUTE:
                sent.popleft()

    @property
    def remembered(self) -> int:
        """Chats and groups held in memory (bounded by the rate, not the subscribers)."""
        return len(self._chats) + len(self._groups)
