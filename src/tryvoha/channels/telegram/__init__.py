"""Telegram: posts to channels and a bot that warns each person for their place.

- `pace.py`: Telegram's limits as a schedule (30 messages a second, 1 a second per chat,
  20 a minute per group; a 429 holds everything).
- `sender.py`: every message goes through it: paced, 429s waited out, failures retried.
- `record.py`: cursors moved after Telegram's answer, many per commit, fenced by the lease.
- `posts.py`: the channels' posts, one per request (a nationwide declare is one post).
- `direct.py`: the subscribers' direct messages, a page of subscribers at a time.
- `bot.py` and `updates.py`: /start with buttons or a location, /my, /stop, /status, /lang.
- `service.py`: all of it, in the one process that holds the `telegram` lease.

The texts are `tryvoha.protocol.telegram`'s (pure); the subscribers are the store's.
aiogram takes seconds to import: only a server with a bot token imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tryvoha.channels.lease import LeaseKeeper
    from tryvoha.config import Settings
    from tryvoha.domain.regions import RegionTree
    from tryvoha.engine.feed import Feed
    from tryvoha.store.base import Store


def telegram_keeper(
    settings: Settings, store: Store, feed: Feed, tree: RegionTree
) -> LeaseKeeper | None:
    """The keeper of the Telegram channel, when a bot token is set (else None)."""
    if not settings.telegram_token.get_secret_value():
        return None
    from tryvoha.channels.telegram.service import TelegramChannel

    return TelegramChannel(settings, store, feed, tree).keeper()
