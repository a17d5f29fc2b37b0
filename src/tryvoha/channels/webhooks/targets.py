"""Where a webhook may be sent: http or https only, to public addresses only.

A URL whose host resolves to a loopback, private, link-local, multicast or other
non-public address is refused (unless --webhooks-allow-private), so that an admin token
cannot turn the server into a probe of the network it sits in. The host is resolved and
every address it has is checked, when the subscription is made and again before each
attempt (DNS can change: a name that was public at creation may point inward later);
the request then goes to the address that was checked, with the name as its Host and as
the TLS server name, so a second lookup cannot swap the address in between. Redirects
are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from tryvoha.channels.targets import is_public

# is_public is the shared rule (channels/targets.py), re-exported for this module's users
__all__ = ["Resolver", "Target", "TargetError", "is_public", "parse_target"]

MAX_URL_LENGTH = 2000
RESOLVED_SECONDS = 5.0  # a name's addresses are looked up again after this
RESOLVED_KEPT = 10_000


class TargetError(Exception):
    """The URL cannot be a webhook's target; `unsafe` when only its address is the reason."""

    def __init__(self, detail: str, unsafe: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.unsafe = unsafe


@dataclass(frozen=True, slots=True)
class Target:
    url: str  # as given
    scheme: str
    host: str  # a name, or an address without brackets
    port: int
    target: bytes  # path and query, as sent on the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = {"http": 80, "https": 443}[self.scheme]
        return host if self.port == default else f"{host}:{self.port}"

    def request_url(self, address: str) -> httpx.URL:
        """The URL with the checked address in place of the name."""
        return httpx.URL(scheme=self.scheme, host=address, port=self.port, raw_path=self.target)


def parse_target(url: str) -> Target:
    """A webhook URL, or TargetError saying what is wrong with it."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as e:
        raise TargetError(f"not a URL: {e}") from None
    if parsed.scheme not in ("http", "https"):
        raise TargetError("only http:// and https:// URLs can be webhooks")
    if not parsed.host:
        raise TargetError("the URL has no host")
    if parsed.userinfo:
        raise TargetError("put no credentials in the URL: deliveries are signed instead")
    if parsed.fragment:
        raise TargetError("a webhook URL has no #fragment")
    port = parsed.port or {"http": 80, "https": 443}[parsed.scheme]
    return Target(url, parsed.scheme, parsed.host, port, parsed.raw_path)


Lookup = Callable[[str, int], Awaitable[list[str]]]  # host, port -> addresses


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Resolver:
    """The address to send to, checked; names looked up at most every RESOLVED_SECONDS."""

    def __init__(
        self,
        allow_private: bool,
        lookup: Lookup | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allow_private = allow_private
        self.lookup = lookup
        self.clock = clock
        self._known: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def address(self, target: Target) -> str:
        """An address of the target's host that may be sent to; TargetError if none may."""
        addresses = await self._addresses(target.host, target.port)
        if not addresses:
            raise TargetError(f"{target.host} has no address")
        if not self.allow_private:
            for text in addresses:
                if not is_public(ipaddress.ip_address(text)):
                    raise TargetError(
                        f"{target.host} resolves to {text}, which is not a public address"
                        " (see --webhooks-allow-private)",
                        unsafe=True,
                    )
        return addresses[0]

    async def _addresses(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        key = (host, port)
        known = self._known.get(key)
        now = self.clock()
        if known is not None and now - known[0] < RESOLVED_SECONDS:
            return known[1]
        try:
            found = await (self.lookup or _getaddrinfo)(host, port)
        except OSError as e:
            raise TargetError(f"cannot resolve {host}: {e.strerror or e}") from None
        if len(self._known) >= RESOLVED_KEPT:
            self._known.clear()
        self._known[key] = (now, found)
        return found
