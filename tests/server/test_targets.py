"""The safe-target rule: the server sends only to public https addresses unless told
otherwise (tests on loopback)."""

from __future__ import annotations

import pytest

from tryvoha.channels.targets import UnsafeTargetError, check_address, check_target


@pytest.mark.parametrize(
    "url",
    [
        "https://fcm.googleapis.com/fcm/send/abc:def",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
        "https://web.push.apple.com/QGc3",
        "https://8.8.8.8/x",
        "https://[2606:4700:4700::1111]:8443/x",
    ],
)
def test_public_https_targets_pass(url: str) -> None:
    assert check_target(url).hostname


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://fcm.googleapis.com/x", "must be https"),
        ("ftp://example.org/x", "must be https"),
        ("https:///x", "names no host"),
        ("https://user:pw@example.org/x", "no user name"),
        ("https://localhost/x", "local name"),
        ("https://printer.local/x", "local name"),
        ("https://db.internal/x", "local name"),
        ("https://intranet/x", "local name"),
        ("https://127.0.0.1/x", "not a public address"),
        ("https://10.1.2.3/x", "not a public address"),
        ("https://172.16.0.1/x", "not a public address"),
        ("https://192.168.1.1/x", "not a public address"),
        ("https://169.254.169.254/latest/meta-data", "not a public address"),
        ("https://100.64.0.1/x", "not a public address"),
        ("https://0.0.0.0/x", "not a public address"),
        ("https://[::1]/x", "not a public address"),
        ("https://[fd00::1]/x", "not a public address"),
        ("https://[fe80::1]/x", "not a public address"),
        ("https://[::ffff:127.0.0.1]/x", "not a public address"),
        ("https://224.0.0.1/x", "not a public address"),
        ("https://example.org:99999/x", "not a URL"),
        ("https://exa mple.org/x", "white space"),
        ("https://example.org/" + "a" * 2100, "longer than"),
    ],
)
def test_unsafe_targets_are_refused_with_a_reason(url: str, why: str) -> None:
    with pytest.raises(UnsafeTargetError, match=why):
        check_target(url)


def test_allowing_private_targets_allows_http_and_loopback() -> None:
    assert check_target("http://127.0.0.1:8080/push/1", allow_private=True).port == 8080
    check_address("127.0.0.1", allow_private=True)
    with pytest.raises(UnsafeTargetError):
        check_target("ftp://127.0.0.1/x", allow_private=True)


def test_resolved_addresses_are_checked_too() -> None:
    check_address("142.250.74.106")
    for address in ("127.0.0.1", "10.0.0.8", "::1", "fe80::1%eth0", "::ffff:192.168.0.1"):
        with pytest.raises(UnsafeTargetError):
            check_address(address)


@pytest.mark.anyio
async def test_the_senders_resolver_refuses_a_name_that_resolves_to_a_private_address() -> None:
    """A public-looking name may resolve to a private address (or change to one later):
    the connection's own resolver checks every address, so none is ever connected to."""
    from tryvoha.channels.push_send import CheckedResolver, UnsafeAddressError

    strict, loose = CheckedResolver(allow_private=False), CheckedResolver(allow_private=True)
    try:
        with pytest.raises(UnsafeAddressError, match="not a public address"):
            await strict.resolve("localhost", 443)
        assert {r["host"] for r in await loose.resolve("localhost", 443)} <= {"127.0.0.1", "::1"}
    finally:
        await strict.close()
        await loose.close()
