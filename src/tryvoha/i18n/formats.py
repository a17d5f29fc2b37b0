"""Times and durations as people read them, in every language the catalogues hold.

The pages, the Telegram posts and the bot write a time of day and a length of time the
same way; the rules live here, once (the browser's twin is static/js/i18n.js).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tryvoha.i18n import Catalogue

# The country's clock (people read "since 08:02" in Kyiv time).
DISPLAY_TIME_ZONE = "Europe/Kyiv"


def local_time(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(DISPLAY_TIME_ZONE))


def clock_text(moment: datetime) -> str:
    """The time of day in the country's clock: "08:12"."""
    return local_time(moment).strftime("%H:%M")


def since_text(started: datetime, now: datetime) -> str:
    """A start time as the lists write it: the clock today, the date and clock before."""
    start, today = local_time(started), local_time(now)
    return start.strftime("%H:%M" if start.date() == today.date() else "%d.%m.%Y %H:%M")


def duration_text(t: Catalogue, seconds: float) -> str:
    """ "12 хв", "1 год 05 хв", "2 д 3 год": the same as static/js/i18n.js writes."""
    minutes = max(int(seconds // 60), 0)
    if minutes < 60:
        return t("time.minutes", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return t("time.hours_minutes", h=hours, m=f"{minutes:02d}")
    days, hours = divmod(hours, 24)
    return t("time.days_hours", d=days, h=hours)


# Ukrainian letters in the alphabet's order (their code points are not: є, і, ї and ґ
# come after я), so lists of names read as people expect.
_UK_ALPHABET = "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя"
_UK_ORDER = {ch: chr(0x430 + i) for i, ch in enumerate(_UK_ALPHABET)}


def sort_key(name: str) -> str:
    """A key to sort names by, Ukrainian ones in the Ukrainian alphabet's order."""
    return "".join(_UK_ORDER.get(ch, ch) for ch in name.casefold())
