"""Who a client is: its address, or the address a trusted proxy names; an IPv6 client is
its /64. The left-most X-Forwarded-For is whatever the client wrote: never trusted."""

from __future__ import annotations

import pytest

from tryvoha.config import Rate
from tryvoha.server.clients import ClientLimits, client_of, parse_networks

PROXIES = parse_networks(["127.0.0.1", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("192.0.2.7", None, "192.0.2.7"),
        ("192.0.2.7", "198.51.100.1", "192.0.2.7"),  # not a proxy: its word is ignored
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the left-most is made up
        ("127.0.0.1", "198.51.100.1, 10.1.2.3", "198.51.100.1"),  # through two proxies
        ("127.0.0.1", "10.1.2.3, 10.9.9.9", "10.1.2.3"),  # proxies all the way: the last word
        ("127.0.0.1", "not an address", "127.0.0.1"),
        ("127.0.0.1", "[2001:db8::1]:443", "2001:db8::/64"),
        ("2001:db8:1:2:aaaa::1", None, "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.9", None, "192.0.2.9"),
        (None, None, "-"),
    ],
)
def test_the_client_of_a_request(peer: str | None, forwarded: str | None, client: str) -> None:
    assert client_of(peer, forwarded, PROXIES) == client


def test_streams_are_counted_per_client_and_freed() -> None:
    limits = ClientLimits(Rate(0, 1), 2, (), 100)
    assert limits.open_stream("a") is None and limits.open_stream("a") is None
    refused = limits.open_stream("a")
    assert refused is not None and refused.code == "too_many_streams"
    assert limits.open_stream("b") is None
    limits.close_stream("a")
    assert limits.open_stream("a") is None
    for _ in range(3):
        limits.close_stream("b")  # never below nothing
    assert "b" not in limits.streams


def test_requests_are_limited_per_client() -> None:
    limits = ClientLimits(Rate(3, 60), 10, (), 100)
    assert [limits.request("a") for _ in range(3)] == [None, None, None]
    refused = limits.request("a")
    assert refused is not None and refused.code == "rate_limited" and int(refused.retry_after) >= 1
    assert limits.request("b") is None
