"""The pages in a real browser (Debian's chromium, driven by Playwright) against a real
`tryvoha serve`: live updates, going offline and coming back, the console, "where am I".

Screenshots go to test-artifacts/screenshots/ (desktop 1440 px and phone 390 px); the
README shows copies of two of them from docs/.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import KYIV_CITY, LVIV
from tests.support import server as support
from tests.support.server import ServerProcess, timeout
from tryvoha.config import Settings
from tryvoha.server.app import create_app

pytestmark = pytest.mark.browser
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
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
LVIV_CITY = {"latitude": 49.8419, "longitude": 24.0316}
BLACK_SEA = {"latitude": 43.5, "longitude": 31.5}


def off_loop(fn: Callable[..., T], *args: object) -> T:
    """Playwright's sync API keeps an event loop on this thread: asyncio work runs on another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def make_token(store_url: str, name: str, scope: list[str]) -> str:
    return off_loop(support.make_token, store_url, name, scope)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: `make system-test` installs it")
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def new_page(browser: Browser, viewport: dict[str, int] = DESKTOP, **options: object) -> Page:
    context: BrowserContext = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        locale="uk-UA",
        timezone_id="Europe/Kyiv",
        device_scale_factor=2 if viewport["width"] < 600 else 1,
        **options,  # type: ignore[arg-type]
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png")


def live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-conn", "live", timeout=timeout(10) * 1000)


def region(page: Page, region_id: str) -> str:
    return f'#layer-base [data-region-id="{region_id}"]'


def declare(url: str, token: str, *regions: str, **fields: object) -> dict[str, object]:
    answer = httpx.post(
        f"{url}/api/v1/alerts",
        json={"regions": list(regions), **fields},
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout(10),
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_the_map_turns_red_within_a_second(browser: Browser, server: ServerProcess) -> None:
    token = make_token(server.store_url, "national", ["UA"])
    page = new_page(browser)
    page.goto(server.url)
    live(page)
    expect(page.locator(region(page, LVIV))).to_have_attribute("data-state", "clear")
    expect(page.locator("#summary-title")).to_have_text("Тривог немає")

    declare(server.url, token, LVIV, threats=["ballistic_missiles"])
    sent = time.monotonic()
    page.wait_for_selector(f'{region(page, LVIV)}[data-state="alert"]', timeout=1000)
    assert time.monotonic() - sent < 1.0
    expect(page.locator("#alerts li")).to_have_count(1)
    expect(page.locator("#summary-title")).to_have_text("Тривога в 1 області з 27")
    assert page.title().startswith("(1) ")

    # a nationwide morning: every oblast in one request, then a few cleared one by one
    oblasts = [
        r["id"]
        for r in httpx.get(f"{server.url}/api/v1/regions").json()["regions"]
        if r["level"] == "oblast" and r["id"] != LVIV
    ]
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
    expect(page.locator("#alerts li")).to_have_count(27)
    expect(page.locator("#summary-title")).to_have_text("Тривога в усіх областях")
    alerts = declared["alerts"]
    assert isinstance(alerts, list)
    for alert in alerts[-3:]:
        httpx.post(
            f"{server.url}/api/v1/alerts/{alert['id']}/clear",
            headers={"Authorization": f"Bearer {token}"},
        )
    expect(page.locator("#alerts li")).to_have_count(24)
    shot(page, "map-desktop")
    assert not page.errors  # type: ignore[attr-defined]

    phone = new_page(browser, PHONE)
    phone.goto(server.url)
    live(phone)
    expect(phone.locator("#alerts li")).to_have_count(24)
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
    expect(page.locator(f'{region(page, KYIV_CITY)}[data-state="alert"]')).to_have_count(1)
    expect(page.locator("#map-stale")).to_be_hidden()
    expect(page.locator("#alerts li")).to_have_count(2)
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_console_declares_in_scope_refuses_outside_and_clears(
    browser: Browser, server: ServerProcess
) -> None:
    token = make_token(server.store_url, "lviv-oda", [LVIV])
    page = new_page(browser)
    page.goto(f"{server.url}/console")
    page.fill("#token", "tv_not-a-real-token")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("Токен не підійшов")

    page.fill("#token", token)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#who")).to_contain_text("lviv-oda")
    expect(page.locator("#who")).to_contain_text("Львівська область")

    page.click(region(page, KYIV_CITY))  # outside the token's scope
    expect(page.locator("#pick-refused")).to_have_text("м. Київ — поза вашою юрисдикцією.")
    expect(page.locator("#picked-list li")).to_have_count(0)
    page.fill("#pick-search", "Харківська")
    expect(page.locator("#pick-results li").first).to_have_attribute("aria-disabled", "true")

    page.click(region(page, LVIV))
    expect(page.locator("#picked-list li")).to_have_count(1)
    page.select_option("#threat", "air_raid")
    page.check("input[name=kind][value=drones]")
    page.fill("#message-uk", "Загроза ударних БпЛА. Пройдіть в укриття.")
    page.click("#declare")
    expect(page.locator("#declare-result")).to_contain_text("Оголошено: 1 тривога")
    expect(page.locator(f'{region(page, LVIV)}[data-state="alert"]')).to_have_count(1)
    expect(page.locator("#scope-alerts li")).to_have_count(1)
    expect(page.locator("#my-events li")).to_have_count(1)
    shot(page, "console-desktop")

    page.click("#scope-alerts li button")
    expect(page.locator("#clear-result")).to_contain_text("Відбій: 1 тривога")
    expect(page.locator("#scope-alerts li")).to_have_count(0)
    expect(page.locator(f'{region(page, LVIV)}[data-state="clear"]')).to_have_count(1)
    expect(page.locator("#my-events li")).to_have_count(2)
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_console_asks_before_declaring_for_most_of_the_country(
    browser: Browser, server: ServerProcess
) -> None:
    token = make_token(server.store_url, "national", ["UA"])
    page = new_page(browser)
    page.goto(f"{server.url}/console")
    page.fill("#token", token)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#who")).to_contain_text("national")
    oblasts = page.locator("#layer-base path")
    for i in range(14):  # 14 of 27: more than half, picked from the keyboard
        oblasts.nth(i).focus()
        page.keyboard.press("Enter")
    expect(page.locator("#picked-list li")).to_have_count(14)
    page.click("#declare")
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("з 27 областей?")
    page.click("#confirm button[value=cancel]")
    expect(page.locator("#declare-result")).to_have_text("")
    assert httpx.get(f"{server.url}/api/v1/alerts/active").json()["alerts"] == []
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
    expect(page.locator("#picked h3")).to_contain_text("Дрогобицьк")
    expect(page.locator("#map")).not_to_have_attribute("data-level", "oblast")  # zoomed in

    page.click("[data-zoom=reset]")
    expect(page.locator("#map")).to_have_attribute("data-level", "oblast")

    page.locator(region(page, LVIV)).focus()
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


NOTIFICATION_SPY = """
window.shown = [];
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) { super(title, options); window.shown.push(title); }
  static get permission() { return Real.permission; }
  static requestPermission() { return Real.requestPermission(); }
};
"""


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
    expect(page.locator(".table-wrap table.history tbody tr")).to_have_count(1)

    page.click("#notify")
    expect(page.locator("#notify")).to_have_attribute("aria-pressed", "true")
    declare(server.url, token, KYIV_CITY, threats=["ballistic_missiles"])
    expect(page.locator("#region-state")).to_have_attribute("data-state", "alert")
    expect(page.locator("#region-state-word")).to_have_text("Тривога")
    expect(page.locator("#alerts li")).to_have_count(1)
    page.wait_for_function("window.shown.length === 1")
    assert page.evaluate("window.shown[0]") == "Тривога: м. Київ"
    shot(page, "region-desktop")
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()
