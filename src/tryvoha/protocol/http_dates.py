"""Last-Modified and If-Modified-Since for answers that change with the log: the one rule,
for every polled route that carries a date (alerts.in.ua's clients validate by date).

HTTP dates have whole seconds, and two changes can fall in one; a client that holds the
answer of the first must never be told "not modified" after the second. So the date of an
answer is the end of the second of its change, and until that second is over (and SETTLE
more, for events still on their way from another serving process) the header is the
second before: a client that sends it back gets the answer again.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from functools import lru_cache

SETTLE = timedelta(seconds=5)  # how late a committed event may still reach this process


def _whole_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def final_last_modified(changed_at: datetime) -> datetime:
    """The Last-Modified of what is current since changed_at, once that second is over:
    the next whole second, so that a change later within the same second gets a later
    date."""
    return _whole_second(changed_at) + timedelta(seconds=1)


@lru_cache(maxsize=64)
def _http_dates(changed_at: datetime) -> tuple[str, str, datetime]:
    """(the header until settled, the header after, the moment it settles) of a change:
    the same few values are asked for by every poller, so they are formatted once."""
    final = final_last_modified(changed_at)
    before = email.utils.format_datetime(final - timedelta(seconds=1), usegmt=True)
    return before, email.utils.format_datetime(final, usegmt=True), final + SETTLE


def last_modified(changed_at: datetime, now: datetime) -> str:
    """The Last-Modified header for an answer current since changed_at, sent now.

    HTTP dates have whole seconds, and two changes can fall in one. Until that second is
    over (and SETTLE more, for events still on their way from another process), the
    header is the second before: a client that sends it back gets the answer again,
    never a 304 for a body that has changed since."""
    before, final, settled_at = _http_dates(changed_at)
    return final if now >= settled_at else before


@lru_cache(maxsize=256)
def _parse_http_date(text: str) -> datetime | None:
    try:
        since = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return since.replace(tzinfo=UTC) if since.tzinfo is None else since


def not_modified(if_modified_since: str | None, changed_at: datetime) -> bool:
    """Whether a client holding a body of If-Modified-Since has the current one."""
    if not if_modified_since or len(if_modified_since) > 64:
        return False
    since = _parse_http_date(if_modified_since)
    return since is not None and since >= final_last_modified(changed_at)
