"""gzip only when the client takes it, q-values honoured (RFC 9110 12.5.3)."""

from __future__ import annotations

import pytest

from tests.server.conftest import Api
from tryvoha.server.negotiation import accepts_gzip


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("GZIP;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0", False),
        ("br, gzip;q=0, *", False),  # named outright wins over *
        ("*", True),
        ("*;q=0", False),
        ("identity", False),
        ("x-gzip", True),
        ("gzip;q=nonsense", False),
        ("deflate, *;q=0.1", True),
    ],
)
def test_whether_a_client_takes_gzip(header: str | None, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip


@pytest.mark.anyio
async def test_a_page_is_not_gzipped_for_a_client_that_refuses_it(api: Api) -> None:
    refused = await api.client.get("/", headers={"Accept-Encoding": "gzip;q=0"})
    assert refused.status_code == 200 and "content-encoding" not in refused.headers
    taken = await api.client.get("/", headers={"Accept-Encoding": "gzip"})
    assert taken.headers["content-encoding"] == "gzip"
