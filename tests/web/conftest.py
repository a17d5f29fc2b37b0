from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.server.conftest import Api, api
from tests.support.missing import missing
from tests.web.browser import ARGS, CHROMIUM

__all__ = ["Api", "api"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests last: Playwright's sync API keeps its event loop on the main
    thread for as long as the browser lives, and asyncio tests cannot run beside it."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One chromium for the whole run: each test opens contexts of its own in it."""
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing: `make system-test` installs it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()
