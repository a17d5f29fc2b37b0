"""The API's documentation page works with no internet and under the pages' CSP: every
byte from this server, no script inline (issue 15, item 8)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser


def test_the_api_docs_are_served_from_here_under_the_csp(
    browser: Browser, server: ServerProcess
) -> None:
    context = browser.new_context()
    page = context.new_page()
    elsewhere: list[str] = []
    violations: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(server.url) else elsewhere.append(r.url),
    )
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    answer = page.goto(f"{server.url}/api/v1/docs")
    assert answer is not None and "script-src 'self'" in answer.headers["content-security-policy"]
    expect(page.get_by_text("Declare alerts: one per region, in one transaction")).to_be_visible()
    assert elsewhere == [] and violations == []
    context.close()
