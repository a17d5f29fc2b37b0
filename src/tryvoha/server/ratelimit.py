"""Rate limits: a token bucket per key, in bounded memory.

A key is whatever a limit is kept for: an API key's name today, a client's address
later. Each key's bucket holds up to `rate.count` requests and refills at
`rate.count / rate.seconds` a second, so a client may burst to the limit and then goes
at the average rate, as "N requests a minute" is commonly meant. A refused request is
told how long until it would be admitted (Retry-After).

Memory is bounded: at most `max_keys` buckets are kept; past that, the least recently
used one is forgotten. A forgotten bucket comes back full, which only ever errs towards
letting a request through. Each process keeps its own buckets: with several serving
processes behind one port, a client may get up to that many times the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from tryvoha.config import Rate


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(
        self, rate: Rate, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.rate = rate
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}  # insertion order = least recently used first
        self._per_second = rate.count / rate.seconds if rate.limited else 0.0

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """Admit one request for key: 0.0 when admitted, else the seconds until one would
        be (nothing is taken then)."""
        if not self.rate.limited:
            return 0.0
        now = self.clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(float(self.rate.count), now)
            if len(self._buckets) >= self.max_keys:
                del self._buckets[next(iter(self._buckets))]
        else:
            bucket.tokens = min(
                float(self.rate.count), bucket.tokens + (now - bucket.at) * self._per_second
            )
            bucket.at = now
        self._buckets[key] = bucket  # most recently used last
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._per_second


def retry_after(wait_seconds: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_seconds)))
