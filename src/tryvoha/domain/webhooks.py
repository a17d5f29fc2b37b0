"""Webhook subscriptions' rules, with no I/O: which events an endpoint is sent, and what
follows an attempt to send one (delivered; retried after a delay with jitter; suspended
after the last retry; disabled by a 410).

The delivery itself (HTTP, the store, timers) is in `tryvoha.channels.webhooks`; it asks
these functions what to do, so the rules can be tested without a loop or a socket.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionId, RegionTree

JITTER = 0.2  # a retry waits its delay times a factor drawn from [0.8, 1.2)
MAX_RETRIES = 50
MAX_DELAY_SECONDS = 7 * 24 * 3600.0


class WebhookState(StrEnum):
    ACTIVE = "active"  # events are sent as they come
    SUSPENDED = "suspended"  # the last retry failed: events wait, none is dropped, until resumed
    DISABLED = "disabled"  # the endpoint answered 410 Gone: nothing is sent until resumed


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DELAY = re.compile(r"(\d{1,9}(?:\.\d{1,6})?)\s*(ms|s|min|m|h|d)")


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """The delays before each retry of one event, in seconds: after the first attempt
    fails the endpoint waits `delays[0]`, and so on; when the last retry fails too the
    endpoint is suspended."""

    delays: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> RetrySchedule:
        """Comma-separated durations such as `5s,30s,2m,1h` (units ms, s, m or min, h, d);
        `none` for no retry at all."""
        text = text.strip().lower()
        if text in ("none", ""):
            return cls(())
        delays = []
        for part in text.split(","):
            found = _DELAY.fullmatch(part.strip())
            if found is None:
                raise ValueError(f"'{part.strip()}' is not a duration like 500ms, 5s, 2m or 1h")
            seconds = float(found.group(1)) * _UNITS[found.group(2)]
            if not 0 < seconds <= MAX_DELAY_SECONDS:
                raise ValueError(f"'{part.strip()}': a delay is above 0 and at most 7 days")
            delays.append(seconds)
        if len(delays) > MAX_RETRIES:
            raise ValueError(f"at most {MAX_RETRIES} retries")
        return cls(tuple(delays))

    def __str__(self) -> str:
        return ",".join(_duration(d) for d in self.delays) or "none"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds < 1 and round(seconds * 1000, 6).is_integer():
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"


class Verdict(StrEnum):
    DELIVERED = "delivered"  # a 2xx: the next event may go
    RETRY = "retry"  # anything else: the same event again after `delay`
    SUSPEND = "suspend"  # it failed and no retry is left
    DISABLE = "disable"  # 410 Gone: the endpoint says it is gone for good


@dataclass(frozen=True, slots=True)
class Step:
    verdict: Verdict
    delay: float = 0.0  # seconds, for RETRY


def next_step(status: int | None, failures: int, schedule: RetrySchedule, draw: float) -> Step:
    """What follows an attempt that got `status` (None: no answer: refused, timed out,
    reset, or the address was refused) after `failures` failed attempts of the same event
    before it. `draw` is a random number in [0, 1) for the jitter."""
    if status is not None and 200 <= status < 300:
        return Step(Verdict.DELIVERED)
    if status == 410:
        return Step(Verdict.DISABLE)
    if failures >= len(schedule.delays):
        return Step(Verdict.SUSPEND)
    jitter = 1 - JITTER + 2 * JITTER * draw
    return Step(Verdict.RETRY, schedule.delays[failures] * jitter)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events an endpoint is sent. Regions match as on the SSE stream: an event on
    a named region, on a region it lies in, or on one below it (one AND with the tree's
    `related_mask`). Events imported from the historical record are never sent."""

    mask: int | None  # None: every region
    threats: frozenset[ThreatType] | None  # None: every threat type

    def matches(self, region_bit: int, threat: str, historical: bool) -> bool:
        if historical:
            return False
        if self.mask is not None and not self.mask & region_bit:
            return False
        return self.threats is None or threat in self.threats


def event_filter(
    tree: RegionTree,
    regions: Iterable[RegionId] | None,
    threats: Iterable[ThreatType] | None,
) -> EventFilter:
    mask = None if regions is None else tree.related_mask(regions)
    return EventFilter(mask, None if threats is None else frozenset(threats))


@dataclass(frozen=True, slots=True)
class NewWebhook:
    """A subscription as the admin asked for it, with its id and secret."""

    id: str
    url: str
    regions: tuple[RegionId, ...] | None  # None: every region
    threats: tuple[ThreatType, ...] | None  # None: every threat type
    description: str
    secret: str  # whsec_...: needed to sign, so kept as it is


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    """A subscription as stored, with how far its endpoint has acknowledged the log."""

    id: str
    url: str
    regions: tuple[RegionId, ...] | None
    threats: tuple[ThreatType, ...] | None
    description: str
    secret: str
    state: WebhookState
    created_at: datetime
    version: int  # grows with every change an admin or the delivery makes to the row
    cursor: Seq  # every event up to here is delivered (or was not for this endpoint)
    replay_from: Seq | None  # a replay asked for and not yet taken up by the delivery
    delivered_seq: Seq | None  # the last event the endpoint acknowledged with a 2xx
    delivered_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try to deliver one event: the HTTP status (None: no answer) and how long."""

    n: int  # numbers an endpoint's attempts, oldest first
    seq: Seq
    at: datetime
    status: int | None
    duration_ms: int
    error: str | None  # None for a 2xx
