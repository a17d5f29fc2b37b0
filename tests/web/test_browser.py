"""The pages in a real browser (Debian's chromium, driven by Playwright) against a real
`tryvoha serve`: live updates, going offline and coming back, the console, "where am I".

Screenshots go to test-artifacts/screenshots/ (desktop 1440 px and phone 390 px); the
README shows copies of two of them from docs/.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import KYIV_CITY, LVIV
from tests.support.server import ServerProcess, timeout
from tests.web.browser import (
    BLACK_SEA,
    LVIV_CITY,
    NOTIFICATION_SPY,
    PHONE,
    declare,
    live,
    make_token,
    new_page,
    oblast_ids,
    off_loop,
    region,
    shot,
)
from tryvoha.config import Settings
from tryvoha.server.app import create_app

pytestmark = pytest.mark.browser


def test_the_map_turns_red_within_a_second(browser: Browser, server: ServerProcess) -> None:
    token = make_token(server.store_url, "national", ["UA"])
    page = new_page(browser)
    page.goto(server.url)
    live(page)
    expect(page.locator(region(LVIV))).to_have_attribute("data-state", "clear")
    expect(page.locator("#summary-title")).to_have_text("Тривог немає")

    declare(server.url, token, LVIV, threats=["ballistic_missiles"])
    sent = time.monotonic()
    page.wait_for_selector(f'{region(LVIV)}[data-state="alert"]', timeout=1000)
    assert time.monotonic() - sent < 1.0
    expect(page.locator("#alerts > li")).to_have_count(1)
    expect(page.locator("#summary-title")).to_have_text("Тривога в 1 області з 27")
    assert page.title().startswith("(1) ")

    # a nationwide morning: every oblast in one request, then a few cleared one by one
    oblasts = [o for o in oblast_ids(server.url) if o != LVIV]
    declared = declare(
        server.url,
        token,
        *oblasts,
        threats=["cruise_missiles", "drones"],
        message={
            "uk": "Масована ракетна атака. Негайно прямуйте в укриття.",
            "en": "Massive missile attack. Go to a shelter now.",
        },
    )
    expect(page.locator("#alerts > li")).to_have_count(27)
    expect(page.locator("#summary-title")).to_have_text("Тривога в усіх областях")
    alerts = declared["alerts"]
    assert isinstance(alerts, list)
    for alert in alerts[-3:]:
        httpx.post(
            f"{server.url}/api/v1/alerts/{alert['id']}/clear",
            headers={"Authorization": f"Bearer {token}"},
        )
    expect(page.locator("#alerts > li")).to_have_count(24)
    shot(page, "map-desktop")
    assert not page.errors  # type: ignore[attr-defined]

    phone = new_page(browser, PHONE)
    phone.goto(server.url)
    live(phone)
    expect(phone.locator("#alerts > li")).to_have_count(24)
    shot(phone, "map-phone")
    phone.context.close()
    page.context.close()


async def declare_in_process(store_url: str, token: str, region_id: str) -> None:
    """Write to the store while no server runs: an alert declared while the page is away."""
    app = create_app(Settings(store=store_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tryvoha.test") as c:
            answer = await c.post(
                "/api/v1/alerts",
                json={"regions": [region_id]},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 201, answer.text


def test_offline_then_back_with_what_happened_meanwhile(
    browser: Browser, server: ServerProcess
) -> None:
    token = make_token(server.store_url, "national", ["UA"])
    declare(server.url, token, LVIV)
    page = new_page(browser)
    page.goto(server.url)
    live(page)

    server.stop()
    expect(page.locator("#conn")).to_have_attribute(
        "data-conn", "offline", timeout=timeout(10) * 1000
    )
    expect(page.locator("#map-stale")).to_be_visible()
    expect(page.locator("#map-frame")).to_have_attribute("data-stale", "true")
    expect(page.locator(".stale-note").first).to_be_visible()
    shot(page, "map-offline-desktop")

    off_loop(asyncio.run, declare_in_process(server.store_url, token, KYIV_CITY))
    server.start(port=server.port)
    live(page)  # by itself, within the back-off
    expect(page.locator(f'{region(KYIV_CITY)}[data-state="alert"]')).to_have_count(1)
    expect(page.locator("#map-stale")).to_be_hidden()
    expect(page.locator("#alerts > li")).to_have_count(2)
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_where_am_i_in_lviv_and_in_the_black_sea(browser: Browser, server: ServerProcess) -> None:
    page = new_page(browser, PHONE, geolocation=LVIV_CITY, permissions=["geolocation"])
    page.goto(server.url)
    live(page)
    page.click("#where-am-i")
    note = page.locator("#locate-note")
    expect(note).to_contain_text("Ви тут: Львівська територіальна громада, Львівський район")
    expect(page.locator("#myplace")).to_contain_text("Моє місце")
    expect(page.locator("#myplace")).to_contain_text("Зараз тут тривоги немає.")
    expect(page.locator("#you")).to_be_visible()
    shot(page, "locate-phone")

    page.context.set_geolocation(BLACK_SEA)
    page.click("#where-am-i")
    expect(note).to_have_text("Ця точка поза межами України.")
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_keyboard_search_and_language(browser: Browser, server: ServerProcess) -> None:
    page = new_page(browser)
    page.goto(server.url)
    live(page)
    page.focus("#search-input")
    page.keyboard.type("Drohob")
    expect(page.locator("#search-list li").first).to_contain_text("Дрогобиц")
    page.keyboard.press("Enter")
    expect(page.locator("#picked h2")).to_contain_text("Дрогобицьк")
    expect(page.locator("#map")).not_to_have_attribute("data-level", "oblast")  # zoomed in

    page.click("[data-zoom=reset]")
    expect(page.locator("#map")).to_have_attribute("data-level", "oblast")

    page.locator(region(LVIV)).focus()
    page.keyboard.press("ArrowRight")
    focused = page.evaluate("document.activeElement.dataset.regionId")
    assert focused and focused != LVIV
    page.keyboard.press("Enter")
    expect(page.locator("#picked")).to_be_visible()

    page.click("a[hreflang=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#summary-title")).to_have_text("No alerts")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "en")  # remembered
    page.context.close()


def test_region_page_charts_notifications_and_live_state(
    browser: Browser, server: ServerProcess
) -> None:
    token = make_token(server.store_url, "national", ["UA"])
    first = declare(server.url, token, KYIV_CITY)
    alerts = first["alerts"]
    assert isinstance(alerts, list)
    httpx.post(
        f"{server.url}/api/v1/alerts/{alerts[0]['id']}/clear",
        headers={"Authorization": f"Bearer {token}"},
    )
    page = new_page(browser, permissions=["notifications"])
    page.add_init_script(NOTIFICATION_SPY)
    page.goto(f"{server.url}/region/{KYIV_CITY}")
    live(page)
    expect(page.locator("#region-state")).to_have_attribute("data-state", "clear")
    expect(page.locator("#charts figure")).to_have_count(2)  # from GET /api/v1/stats
    expect(page.locator("#charts")).to_contain_text("1 тривога")
    expect(page.locator("[aria-labelledby=history-title] table tbody tr")).to_have_count(1)

    page.click("#notify")
    expect(page.locator("#notify")).to_have_attribute("aria-pressed", "true")
    declare(server.url, token, KYIV_CITY, threats=["ballistic_missiles"])
    expect(page.locator("#region-state")).to_have_attribute("data-state", "alert")
    expect(page.locator("#region-state-word")).to_have_text("Тривога")
    expect(page.locator("#alerts > li")).to_have_count(1)
    page.wait_for_function("() => window.shown.length === 1")  # a function: CSP forbids eval
    assert page.evaluate("window.shown[0]") == "Тривога: м. Київ"
    shot(page, "region-desktop")
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()
