"""No secret in a URL or a log: the console's sign-in form cannot send the token as a
GET, even when its script never loaded (issue 15, item 2)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser


def test_the_sign_in_form_never_puts_the_token_in_a_url(
    browser: Browser, server: ServerProcess
) -> None:
    context = browser.new_context(java_script_enabled=False)  # the module did not load
    page = context.new_page()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url + " " + (request.post_data or "")))
    page.goto(f"{server.url}/console")
    page.fill("#token", "tv_secret-that-must-not-travel")
    page.press("#token", "Enter")
    page.wait_for_load_state()
    assert page.url == f"{server.url}/console"
    assert seen and not any("secret-that-must-not-travel" in line for line in seen), seen
    context.close()
