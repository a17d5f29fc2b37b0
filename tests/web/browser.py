"""Helpers for the browser tests: Debian's chromium through Playwright, pages in a context
of their own, screenshots, the real server's API, and axe-core in the page."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support import server as support
from tests.support.server import timeout
from tryvoha.domain.scope import Role

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DOCS = Path(__file__).resolve().parents[2] / "docs"
CASES = Path(__file__).resolve().parent / "cases"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
LVIV_CITY = {"latitude": 49.8419, "longitude": 24.0316}
BLACK_SEA = {"latitude": 43.5, "longitude": 31.5}

# Records the title of every notification the page shows itself (window.shown).
NOTIFICATION_SPY = """
window.shown = [];
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) { super(title, options); window.shown.push(title); }
  static get permission() { return Real.permission; }
  static requestPermission() { return Real.requestPermission(); }
};
"""


def off_loop(fn: Callable[..., T], *args: object) -> T:
    """Playwright's sync API keeps an event loop on this thread: asyncio work runs on another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def make_token(store_url: str, name: str, scope: list[str], role: Role = Role.ISSUER) -> str:
    return off_loop(support.make_token, store_url, name, scope, role)


def new_page(
    browser: Browser,
    viewport: dict[str, int] = DESKTOP,
    *,
    dark: bool = False,
    lang: str = "uk-UA",
    **options: Any,
) -> Page:
    context: BrowserContext = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        locale=lang,
        timezone_id="Europe/Kyiv",
        device_scale_factor=2 if viewport["width"] < 600 else 1,
        color_scheme="dark" if dark else "light",
        **options,
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def shot(page: Page, name: str, *, docs: bool = False) -> None:
    """A screenshot in test-artifacts/; with docs=True, and under `make screenshots`
    (TRYVOHA_SCREENSHOTS=docs), also the copy in docs/ that the README shows."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png")
    if docs and os.environ.get("TRYVOHA_SCREENSHOTS") == "docs":
        page.screenshot(path=DOCS / f"screenshot-{name}.png")


def live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-conn", "live", timeout=timeout(10) * 1000)


def region(region_id: str) -> str:
    return f'#layer-base [data-region-id="{region_id}"]'


def api_post(url: str, token: str, path: str, body: object = None) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout(10),
    )
    assert answer.is_success, answer.text
    found: dict[str, Any] = answer.json()
    return found


def declare(url: str, token: str, *regions: str, **fields: object) -> dict[str, Any]:
    return api_post(url, token, "/api/v1/alerts", {"regions": list(regions), **fields})


def oblast_ids(url: str) -> list[str]:
    return [
        r["id"]
        for r in httpx.get(f"{url}/api/v1/regions", timeout=timeout(10)).json()["regions"]
        if r["level"] == "oblast"
    ]


def sign_in(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/console")
    page.fill("#token", token)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#workspace")).to_be_visible()


@cache
def axe_source() -> str:
    """axe-core, as the PyPI package axe-playwright-python ships it (a test dependency:
    the app itself vendors nothing)."""
    return resources.files("axe_playwright_python").joinpath("axe.min.js").read_text()


SERIOUS = ("serious", "critical")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical violations of WCAG 2.x A and AA on the page as it is now."""
    page.evaluate(axe_source())
    results: dict[str, Any] = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
            resultTypes: ["violations"],
        })"""
    )
    return [v for v in results["violations"] if v["impact"] in SERIOUS]


def explain(violations: list[dict[str, Any]]) -> str:
    return json.dumps(
        [
            {
                "id": v["id"],
                "impact": v["impact"],
                "nodes": [
                    {"target": n["target"], "summary": n.get("failureSummary", "")[:300]}
                    for n in v["nodes"][:4]
                ],
            }
            for v in violations
        ],
        ensure_ascii=False,
        indent=1,
    )
