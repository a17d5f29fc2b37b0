"""Where a channel may send: the safe-target rule for an address someone else gave it.
Which addresses are public (`is_public`) is one rule for every channel; webhooks
(`channels/webhooks/targets.py`) take it from here and keep their own URL rule (http too)
and resolver. The URL rule below is Web Push's endpoints'.

A subscriber names the URL; the server then makes requests to it. Unchecked, that lets
anyone aim the server at its own network (the database, a metadata service, a router's
admin page). So a target must be https, name a host, carry no credentials, and neither
the name nor any address it resolves to may be private, loopback, link-local, multicast
or otherwise not public. `allow_private` lifts the rule (and allows http) for tests on
loopback and closed networks; it is a setting, off by default.

The URL is checked when it is given (`check_target`, no I/O); the addresses its host
resolves to are checked again when the request is made (`check_address`), and the
request goes to the checked address, so a name that later resolves elsewhere is caught.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit

MAX_URL_CHARS = 2048
LOCAL_NAMES = ("localhost", "localhost.localdomain")
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet")


class UnsafeTargetError(ValueError):
    """The address may not be sent to; the message says why, for the one who gave it."""


def check_target(url: str, *, allow_private: bool = False) -> SplitResult:
    """The URL's parts when the server may send to it, else UnsafeTargetError."""
    if len(url) > MAX_URL_CHARS:
        raise UnsafeTargetError(f"longer than {MAX_URL_CHARS} characters")
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise UnsafeTargetError("contains white space or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UnsafeTargetError(f"not a URL: {e}") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeTargetError(f"must be {' or '.join(schemes)}, not '{parts.scheme}'")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeTargetError("names no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTargetError("must carry no user name or password")
    if port == 0:
        raise UnsafeTargetError("port 0 is not a port")
    if not allow_private:
        if _is_ip(host):
            check_address(host)
        elif host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES) or "." not in host:
            raise UnsafeTargetError(f"'{host}' is a local name")
    return parts


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# IPv6 prefixes that carry an IPv4 address a packet may end up at, which Python's
# `is_global` counts as public: NAT64 (RFC 6052, 8215), 6to4 (RFC 3056), and the
# deprecated IPv4-compatible form (::a.b.c.d); site-local (fec0::/10) is deprecated too.
_CARRIES_IPV4 = (
    (ipaddress.IPv6Network("64:ff9b::/96"), 96),
    (ipaddress.IPv6Network("2002::/16"), 16),
    (ipaddress.IPv6Network("::/96"), 96),
    (ipaddress.IPv6Network("::ffff:0:0:0/96"), 96),  # IPv4-translated (RFC 2765)
)
_NOT_PUBLIC_V6 = (
    ipaddress.IPv6Network("fec0::/10"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215): a network's own
)


def is_public(address: Address) -> bool:
    """Routable on the public internet: not loopback, private, link-local, shared,
    reserved or unspecified (not `is_global`), nor multicast; an IPv4 address carried in
    IPv6 (mapped, NAT64, 6to4, IPv4-compatible) is judged as that IPv4 address, and
    site-local IPv6 is not public. (Webhooks' targets use this rule too.)"""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if any(address in net for net in _NOT_PUBLIC_V6):
            return False
        for net, shift in _CARRIES_IPV4:
            if address in net:
                packed = int(address) >> (128 - shift - 32) if shift == 16 else int(address)
                return is_public(ipaddress.IPv4Address(packed & 0xFFFFFFFF))
    return address.is_global and not address.is_multicast


def check_address(address: str, *, allow_private: bool = False) -> None:
    """UnsafeTargetError unless `address` (an IP address, as resolved) is public."""
    if allow_private:
        return
    if not is_public(ipaddress.ip_address(address.split("%", 1)[0])):
        raise UnsafeTargetError(f"{address} is not a public address")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
