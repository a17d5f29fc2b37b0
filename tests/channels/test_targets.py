"""Safe targets: only http(s), only public addresses unless allowed, every address of a
name checked, and checked again when the name's addresses change."""

from __future__ import annotations

import ipaddress
import re

import pytest

from tryvoha.channels.webhooks.targets import Resolver, TargetError, is_public, parse_target

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/x", "only http"),
        ("file:///etc/passwd", "only http"),
        ("example.org/hook", "only http"),
        ("http:///hook", "no host"),
        ("https://user:pw@example.org/hook", "credentials"),
        ("https://example.org/hook#top", "fragment"),
        ("https://example.org/" + "a" * 2001, "longer"),
    ],
)
def test_a_url_that_cannot_be_a_webhook_is_refused(url: str, reason: str) -> None:
    with pytest.raises(TargetError, match=reason) as refused:
        parse_target(url)
    assert not refused.value.unsafe


def test_a_target_keeps_its_name_for_host_and_its_path_as_sent() -> None:
    target = parse_target("https://hooks.example.org:8443/in/tryvoha?key=a%20b")
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.org", 8443)
    assert target.host_header == "hooks.example.org:8443"
    assert target.target == b"/in/tryvoha?key=a%20b"
    assert (
        str(target.request_url("93.184.215.14"))
        == "https://93.184.215.14:8443/in/tryvoha?key=a%20b"
    )
    plain = parse_target("http://[2001:db8::1]/")
    assert plain.host_header == "[2001:db8::1]"
    assert str(plain.request_url("2001:db8::1")) == "http://[2001:db8::1]/"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "::1",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2001:db8::1",  # documentation
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata service
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "::127.0.0.1",  # IPv4-compatible
        "::10.0.0.1",
        "fec0::1",  # site-local
        "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
        "64:ff9b:1:a00:0:100:808:808",  # local-use NAT64: a network's own
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1"],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


async def test_loopback_by_name_and_by_address_is_refused_unless_allowed() -> None:
    strict = Resolver(allow_private=False)
    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/"):
        with pytest.raises(TargetError, match="not a public address") as refused:
            await strict.address(parse_target(url))
        assert refused.value.unsafe
    assert await Resolver(allow_private=True).address(parse_target("http://127.0.0.1:9/")) == (
        "127.0.0.1"
    )


async def test_every_address_of_a_name_is_checked_and_again_when_it_changes() -> None:
    answers = {"hooks.example.org": ["93.184.215.14", "10.0.0.7"]}
    now = [0.0]

    async def lookup(host: str, port: int) -> list[str]:
        return answers[host]

    resolver = Resolver(allow_private=False, lookup=lookup, clock=lambda: now[0])
    target = parse_target("https://hooks.example.org/in")
    with pytest.raises(TargetError, match=re.escape("10.0.0.7")):
        await resolver.address(target)  # one public address is not enough
    answers["hooks.example.org"] = ["93.184.215.14"]
    now[0] += 10  # the name is looked up again
    assert await resolver.address(target) == "93.184.215.14"
    answers["hooks.example.org"] = ["127.0.0.1"]  # DNS now points inward
    now[0] += 10
    with pytest.raises(TargetError, match=re.escape("127.0.0.1")):
        await resolver.address(target)


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(TargetError, match="cannot resolve"):
        await Resolver(allow_private=False).address(parse_target("http://no-such-host.invalid/"))
