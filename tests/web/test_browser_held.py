"""The two-person rule in the console (issue 15, item 7): an administrator declares for
most of the country, the declare is held and says so; another administrator sees it and
confirms it; only then is anything declared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.support.server import ServerProcess, timeout
from tests.web.browser import make_token, new_page, sign_in
from tryvoha.domain.scope import Role

pytestmark = pytest.mark.browser


@pytest.fixture
def strict(store_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(store_url, cwd=tmp_path, env={"TRYVOHA_CONFIRM_OVER": "10"})
    server.start()
    yield server
    server.stop()


def active(url: str) -> int:
    return len(httpx.get(f"{url}/api/v1/alerts/active", timeout=timeout(10)).json()["alerts"])


def test_a_large_declare_waits_for_another_admin(browser: Browser, strict: ServerProcess) -> None:
    first = make_token(strict.store_url, "national", ["UA"], Role.ADMIN)
    second = make_token(strict.store_url, "deputy", ["UA"], Role.ADMIN)
    page = new_page(browser)
    sign_in(page, strict.url, first)
    oblasts = page.locator("#layer-base path")
    for i in range(12):
        oblasts.nth(i).focus()
        page.keyboard.press("Enter")
    page.click("#declare")
    page.click("#confirm-ok")  # the console's own "more than half?" question, if asked
    expect(page.locator("#declare-result")).to_contain_text("Утримано")
    expect(page.locator("#held-card")).to_be_visible()
    expect(page.locator("#held-list li")).to_contain_text("ваша — підтверджує інша особа")
    assert active(strict.url) == 0  # nothing went out

    other = new_page(browser)
    sign_in(other, strict.url, second)
    item = other.locator("#held-list li")
    expect(item).to_contain_text("national")
    item.get_by_role("button", name="Підтвердити").click()
    expect(other.locator("#held-result")).to_contain_text("Підтверджено")
    assert active(strict.url) == 12
    expect(page.locator("#held-card")).to_be_hidden(timeout=timeout(10) * 1000)
    page.context.close()
    other.context.close()
