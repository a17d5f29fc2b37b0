"""The token bucket: bursts to the limit, refills at the average rate, says how long to
wait, and keeps at most max_keys buckets."""

from __future__ import annotations

import pytest

from tryvoha.config import Rate, Settings
from tryvoha.server.ratelimit import RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_average_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(12, 60.0), clock=clock)
    assert [limiter.take("k") for _ in range(12)] == [0.0] * 12
    wait = limiter.take("k")
    assert wait == pytest.approx(5.0)  # one request every 5 s
    clock.now += 4.9
    assert limiter.take("k") == pytest.approx(0.1)
    clock.now += 0.1
    assert limiter.take("k") == 0.0
    assert limiter.take("other") == 0.0  # each key its own bucket


def test_a_refused_request_takes_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(2, 60.0), clock=clock)
    limiter.take("k"), limiter.take("k")
    for _ in range(100):
        assert limiter.take("k") > 0
    clock.now += 30.0
    assert limiter.take("k") == 0.0


def test_a_quiet_key_refills_only_to_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(3, 1.0), clock=clock)
    limiter.take("k")
    clock.now += 3600
    assert [limiter.take("k") for _ in range(4)][:3] == [0.0] * 3
    assert limiter.take("k") > 0


def test_memory_is_bounded_and_the_least_recent_key_goes() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1, 60.0), max_keys=3, clock=clock)
    for key in ("a", "b", "c"):
        limiter.take(key)
    assert limiter.take("a") > 0  # a is now the most recent
    limiter.take("d")  # forgets b
    assert len(limiter) == 3
    assert limiter.take("c") > 0 and limiter.take("a") > 0
    assert limiter.take("b") == 0.0  # forgotten, so full again


def test_off_admits_everything() -> None:
    limiter = RateLimiter(Settings(alerts_in_ua_rate_limit="off").alerts_in_ua_rate_limit)
    assert all(limiter.take("k") == 0.0 for _ in range(10_000)) and len(limiter) == 0


def test_retry_after_is_whole_seconds() -> None:
    assert retry_after(0.01) == "1" and retry_after(4.2) == "5" and retry_after(5.0) == "5"


@pytest.mark.parametrize(
    ("text", "count", "seconds"),
    [
        ("12/min", 12, 60),
        ("200/5min", 200, 300),
        ("10/s", 10, 1),
        ("5 / 2h", 5, 7200),
        ("off", 0, 1),
    ],
)
def test_rates_are_read_as_written(text: str, count: int, seconds: float) -> None:
    rate = Settings(ukrainealarm_rate_limit=text).ukrainealarm_rate_limit
    assert (rate.count, rate.seconds) == (count, seconds)
    assert Settings(ukrainealarm_rate_limit=str(rate)).ukrainealarm_rate_limit == rate
