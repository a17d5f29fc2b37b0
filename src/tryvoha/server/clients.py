"""Who a request comes from, and what each client may cost: per-client caps on the
request rate and on concurrent streams, in bounded memory.

A client is its address: the peer's, or, when the peer is a trusted proxy (a CDN, nginx),
the address that proxy says it received the request from (the right-most address of
X-Forwarded-For that is not itself a trusted proxy: the left-most is whatever the client
wrote). An IPv6 client is its /64, the block one subscriber line gets.

The defaults are generous on purpose: mobile networks put thousands of people behind one
IPv4 address (carrier-grade NAT), and on the morning of a nationwide alert every one of
them opens the map. They bound what one address can cost (a flood, a million streams),
not what a busy address may do; an operator who knows their clients tightens them
(docs/self-host.md, "Limits").
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tryvoha.config import Rate
from tryvoha.server.ratelimit import RateLimiter, retry_after

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(texts: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(text.strip(), strict=False) for text in texts if text.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_of(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The key a client's limits are kept under."""
    address = _address(peer or "")
    if address is not None and forwarded_for and any(address in net for net in trusted):
        for hop in reversed(forwarded_for.split(",")):
            said = _address(hop)
            if said is None:
                break  # a proxy wrote nonsense: the proxy is the client
            address = said
            if not any(said in net for net in trusted):
                break
    if address is None:
        return peer or "-"
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address) if address.version == 6 else str(address)


@dataclass(frozen=True, slots=True)
class Limited:
    """A refusal: why, and when to come back."""

    code: str  # rate_limited | too_many_streams
    detail: str
    retry_after: str


class ClientLimits:
    def __init__(
        self, requests: Rate, max_streams: int, trusted: tuple[Network, ...], max_keys: int
    ) -> None:
        self.requests = RateLimiter(requests, max_keys)
        self.max_streams = max_streams
        self.trusted = trusted
        self.streams: Counter[str] = Counter()  # only clients with a stream open

    def trusts(self, peer: str | None) -> bool:
        """Whether the peer is a trusted proxy (its X-Forwarded-For names the client)."""
        address = _address(peer or "")
        return address is not None and any(address in net for net in self.trusted)

    def client(self, peer: str | None, forwarded_for: str | None) -> str:
        return client_of(peer, forwarded_for, self.trusted)

    def request(self, client: str) -> Limited | None:
        wait = self.requests.take(client)
        if wait <= 0:
            return None
        rate = self.requests.rate
        return Limited(
            "rate_limited",
            f"{client} is over {rate.count} requests per {rate.seconds:g} s",
            retry_after(wait),
        )

    def open_stream(self, client: str) -> Limited | None:
        if self.streams[client] >= self.max_streams:
            return Limited(
                "too_many_streams",
                f"{client} has {self.max_streams} streams open already",
                "10",
            )
        self.streams[client] += 1
        return None

    def close_stream(self, client: str) -> None:
        left = self.streams[client] - 1
        if left > 0:
            self.streams[client] = left
        else:
            self.streams.pop(client, None)
