"""Time and identifiers, passed into the domain rather than read inside it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

from tryvoha.domain.alerts import AlertId

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC, to the millisecond (the precision of the wire format)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_alert_id() -> AlertId:
    """A time-ordered 26-character id: 48 bits of milliseconds, 80 random bits (ULID layout)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(alphabet[digit])
    return AlertId("".join(reversed(chars)))
