"""The page a person opens at 3 a.m., in a real browser against a real `tryvoha serve`
(issue 16: bugs 2, 5 and 6, needs 1, 2, 3, 5 and 8, the siren on the open page)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import KHARKIV, KYIV_CITY, LVIV
from tests.support.server import ServerProcess, timeout
from tests.web.browser import PHONE, declare, live, make_token, new_page, region, shot

pytestmark = pytest.mark.browser

SUMY = "UA59000000000057109"
SHOSTKA = "UA59100170000093676"
LUHANSK = "UA44000000000018893"
CRIMEA = "UA01000000000013043"
CHERNIHIV = "UA74000000000025378"


@pytest.fixture
def standing_server(store_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh install as it starts by default: with the standing alerts."""
    proc = ServerProcess(store_url, cwd=tmp_path, standing=True)
    proc.start()
    yield proc
    proc.stop()


def focused_region(page: Page) -> str | None:
    found: str | None = page.evaluate(
        "document.activeElement?.closest('#map') ? document.activeElement.dataset.regionId : null"
    )
    return found


def test_enter_keeps_the_keyboard_on_the_map(browser: Browser, server: ServerProcess) -> None:
    """Bug 2: after Enter picked an oblast its shape was replaced by the raion layer and
    focus dropped to the body; arrows, +/- and Escape then did nothing."""
    page = new_page(browser)
    page.goto(server.url)
    live(page)
    page.locator(region(KHARKIV)).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#map")).to_have_attribute("data-level", "raion")  # zoomed in
    expect(page.locator("#layer-base path")).to_have_count(137)  # the raions replaced the oblasts
    expect(page.locator("#picked")).to_be_visible()
    # (functions, not expressions: the page's CSP forbids eval, which polling an
    # expression would need)
    page.wait_for_function(
        "k => !!document.activeElement?.closest('#map') && document.activeElement.dataset.regionId !== k",
        arg=KHARKIV,
    )
    first = focused_region(page)
    assert first and first.startswith("UA63"), first  # a raion of Kharkiv oblast
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("f => (document.activeElement?.dataset.regionId || f) !== f", arg=first)
    assert (focused_region(page) or "").startswith("UA")
    before = page.get_attribute("#map", "viewBox")
    page.keyboard.press("-")
    page.wait_for_function(
        "b => document.querySelector('#map').getAttribute('viewBox') !== b", arg=before
    )
    page.keyboard.press("Escape")
    expect(page.locator("#map")).to_have_attribute("data-level", "oblast")
    page.wait_for_function("() => document.activeElement?.closest('#map') != null")
    page.keyboard.press("ArrowRight")  # still on the map, at the country's level
    assert focused_region(page) is not None
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_yellow_is_worded_as_yellow(browser: Browser, server: ServerProcess) -> None:
    """Bug 5: a yellow alert read "Тривога" with a red dot, and the headline counted
    yellow oblasts as "Тривога в N областях"."""
    token = make_token(server.store_url, "national", ["UA"])
    declare(server.url, token, SUMY, level="yellow")
    page = new_page(browser)
    page.goto(server.url)
    live(page)
    expect(page.locator("#summary-title")).to_have_text("Підвищена небезпека в 1 області з 27")
    expect(page.locator("#summary")).to_have_attribute("data-state", "yellow")
    page.goto(f"{server.url}/region/{SHOSTKA}")
    live(page)
    expect(page.locator("#region-state-word")).to_have_text("Підвищена небезпека")
    expect(page.locator("#region-state")).to_have_attribute("data-level", "yellow")
    row = page.locator('#threat-states li[data-for="air_raid"]')
    expect(row).to_have_attribute("data-level", "yellow")
    expect(row.locator(".ts-state")).to_have_text("жовтий рівень")
    dot = row.locator(".dot").evaluate("d => getComputedStyle(d).backgroundColor")
    assert dot in ("rgb(242, 169, 0)",), dot  # the yellow, not the red
    expect(page.locator("#advice")).to_contain_text("Будьте готові перейти в укриття")
    # and when it turns red, the page says so at once
    declare(server.url, token, SUMY, level="red")
    expect(page.locator("#region-state-word")).to_have_text("Тривога")
    expect(row.locator(".ts-state")).to_have_text("тривога")
    page.goto(server.url)
    expect(page.locator("#summary-title")).to_have_text("Тривога в 1 області з 27")
    page.context.close()


def test_the_404_page_does_not_pretend_to_connect(browser: Browser, server: ServerProcess) -> None:
    """Bug 6: the pill said "З’єднання…" forever on a page with no stream."""
    page = new_page(browser)
    answer = page.goto(f"{server.url}/region/UA00000000000000000")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text("Сторінку не знайдено")
    expect(page.locator("#conn")).to_have_attribute("data-conn", "static")
    expect(page.locator("#conn")).to_be_hidden()
    page.context.close()


def test_my_place_comes_first_with_every_threat_and_what_to_do(
    browser: Browser, server: ServerProcess
) -> None:
    """Need 1: chosen with the search and "make this my place", the page opens on it on
    the next visit: state, every threat type and kind, the message, what to do."""
    token = make_token(server.store_url, "national", ["UA"])
    page = new_page(browser)
    page.goto(server.url)
    live(page)
    expect(page.locator("#myplace")).to_contain_text("Оберіть своє місце")  # the prompt
    page.fill("#search-input", "Шосткинська")
    page.keyboard.press("Enter")
    picked = page.locator("#picked")
    expect(picked).to_contain_text("Шосткинська територіальна громада")
    picked.get_by_role("button", name="Зробити моїм місцем").click()
    expect(page.locator("#myplace .myplace-name")).to_have_text("Шосткинська територіальна громада")

    declare(
        server.url,
        token,
        SUMY,
        threats=["ballistic_missiles", "drones"],
        message={"uk": "Балістика з північного сходу!"},
    )
    declare(server.url, token, SHOSTKA, threat="artillery_shelling")
    again = page.context.new_page()  # the next visit, in the same browser
    errors: list[str] = []
    again.on("pageerror", lambda e: errors.append(str(e)))
    again.goto(server.url)
    live(again)
    place = again.locator("#myplace")
    expect(place.locator(".myplace-state")).to_have_text("Тривога")
    lines = place.locator(".threat-lines > li")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("Повітряна тривога")
    expect(lines.nth(0)).to_contain_text("Балістичні ракети")
    expect(lines.nth(0)).to_contain_text("Ударні БпЛА")
    expect(lines.nth(0)).to_contain_text("Балістика з північного сходу!")
    expect(lines.nth(1)).to_contain_text("Загроза артобстрілу")
    expect(place.locator(".advice")).to_contain_text("Негайно прямуйте до найближчого укриття")
    expect(place.locator(".advice")).to_contain_text("Спустіться в підвал")
    # above the national picture, on a desktop and on a phone
    top = place.bounding_box()
    headline = again.locator("#summary").bounding_box()
    assert top and headline and top["y"] + top["height"] <= headline["y"]
    expect(again.locator("#selection .selected-name")).to_have_text("Шосткинська")  # on the map
    shot(again, "myplace-desktop")
    phone = page.context.browser.new_context(viewport=PHONE, locale="uk-UA")  # type: ignore[union-attr]
    phone.add_init_script(f"localStorage.setItem('tryvoha.myplace', '{SHOSTKA}')")
    small = phone.new_page()
    small.goto(server.url)
    expect(small.locator("#myplace .threat-lines > li")).to_have_count(2)
    box = small.locator("#myplace").bounding_box()
    assert box and box["y"] < 200  # the first thing on the screen
    phone.close()
    assert not page.errors and not errors  # type: ignore[attr-defined]
    page.context.close()


def test_every_threat_type_and_kind_shows_on_the_map(
    browser: Browser, server: ServerProcess
) -> None:
    """Need 2: an air raid and artillery shelling both show, and what is coming shows on
    the map as well as in the lists."""
    token = make_token(server.store_url, "national", ["UA"])
    declare(server.url, token, KHARKIV, threats=["ballistic_missiles", "drones"])
    declare(server.url, token, KHARKIV, threat="artillery_shelling")
    declare(server.url, token, LVIV)  # one plain air raid: the colour says it all, no badge
    page = new_page(browser)
    page.goto(server.url)
    live(page)
    badge = page.locator(f'#badges .badge[data-region-id="{KHARKIV}"]')
    expect(badge).to_have_count(1)
    expect(badge.locator(".badge-type")).to_have_count(2)
    types = badge.locator(".badge-type").evaluate_all("ns => ns.map(n => n.dataset.threat)")
    assert types == ["air_raid", "artillery_shelling"]
    kinds = badge.locator(".badge-kind").evaluate_all("ns => ns.map(n => n.dataset.kind)")
    assert kinds == ["ballistic_missiles", "drones"]
    expect(page.locator(f'#badges .badge[data-region-id="{LVIV}"]')).to_have_count(0)
    label = page.get_attribute(region(KHARKIV), "aria-label") or ""
    assert "Повітряна тривога" in label and "Загроза артобстрілу" in label
    assert "Балістичні ракети" in label and "Ударні БпЛА" in label
    expect(page.locator(f'#alerts > li[data-region-id="{KHARKIV}"] .kinds li')).to_have_count(2)
    page.locator(region(KHARKIV)).click()
    lines = page.locator("#picked .threat-lines > li")
    expect(lines).to_have_count(2)
    page.context.close()


def test_standing_alerts_are_loaded_and_drawn_apart_from_fresh_ones(
    browser: Browser, standing_server: ServerProcess
) -> None:
    """Need 3: a fresh install shows Luhansk oblast and Crimea under alert since 2022,
    drawn differently from an alert declared today, never as a calm grey."""
    token = make_token(standing_server.store_url, "national", ["UA"])
    declare(standing_server.url, token, KYIV_CITY)
    page = new_page(browser)
    page.goto(standing_server.url)
    live(page)
    for rid in (LUHANSK, CRIMEA):
        shape = page.locator(region(rid))
        expect(shape).to_have_attribute("data-state", "alert")
        expect(shape).to_have_attribute("data-standing", "true")
        fill = shape.evaluate("n => getComputedStyle(n).fill")
        assert "standing-air_raid" in fill, fill
    fresh = page.locator(region(KYIV_CITY))
    expect(fresh).to_have_attribute("data-standing", "false")
    assert "url(" not in fresh.evaluate("n => getComputedStyle(n).fill")
    luhansk = page.locator(f'#alerts > li[data-region-id="{LUHANSK}"]')
    expect(luhansk.locator("time")).to_have_text("04.04.2022 19:45")
    expect(luhansk).to_contain_text("Тривога без перерви з 4 квітня 2022")
    crimea = page.locator(f'#alerts > li[data-region-id="{CRIMEA}"]')
    expect(crimea.locator("time")).to_have_text("11.12.2022 00:22")
    expect(page.locator(".legend")).to_contain_text("Тривога понад тиждень")
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_zoomed_in_the_oblasts_stay_on_top_and_the_pick_is_named_beside_the_map(
    browser: Browser, server: ServerProcess
) -> None:
    """Need 5: oblast borders and names on top at raion and hromada level, the picked
    region outlined and named, its panel beside the map, not below the fold."""
    page = new_page(browser)
    page.goto(server.url)
    live(page)
    page.fill("#search-input", "Шосткинська")
    page.keyboard.press("Enter")
    expect(page.locator("#map")).to_have_attribute("data-level", "hromada")
    expect(page.locator("#oblast-borders path").first).to_be_visible()
    assert page.locator("#oblast-borders path").count() >= 25
    expect(page.locator(f'#labels text[data-region-id="{SUMY}"]')).to_be_visible()
    expect(page.locator("#selection .selected-outline")).to_have_count(1)
    expect(page.locator("#selection .selected-name")).to_have_text("Шосткинська")
    panel = page.locator("#picked").bounding_box()
    frame = page.locator("#map-frame").bounding_box()
    assert panel and frame
    assert panel["x"] >= frame["x"] + frame["width"]  # beside it
    assert panel["y"] + 40 < 900  # on the screen
    shot(page, "zoomed-desktop")
    page.context.close()

    phone = new_page(browser, PHONE)
    phone.goto(server.url)
    live(phone)
    phone.locator(region(CHERNIHIV)).click()
    panel = phone.locator("#picked").bounding_box()
    assert panel is not None
    top = phone.evaluate("window.scrollY")
    assert panel["y"] - top < PHONE["height"] - 60, (panel, top)  # in view after the tap
    phone.context.close()


def test_names_in_english_and_french(browser: Browser, server: ServerProcess) -> None:
    """Need 8: one form in each language, and no city with special status called an oblast."""
    page = new_page(browser, lang="en-GB")
    page.goto(server.url)
    live(page)
    expect(page.locator(f'#labels text[data-region-id="{CHERNIHIV}"]')).to_have_text("Chernihiv")
    page.locator(region(CHERNIHIV)).click()
    expect(page.locator("#picked h2")).to_have_text("Chernihiv Oblast")
    page.goto(f"{server.url}/region/{KYIV_CITY}")
    expect(page.locator("h1")).to_have_text("Kyiv City")
    expect(page.locator(".region-level")).to_have_text("City with special status")
    page.goto(f"{server.url}/region/{SHOSTKA}")
    expect(page.locator("h1")).to_have_text("Shostka hromada")
    expect(page.locator(".crumbs")).to_contain_text("Shostka Raion")
    expect(page.locator(".crumbs")).to_contain_text("Sumy Oblast")
    page.goto(f"{server.url}/region/UA01000000000013043")
    expect(page.locator("h1")).to_have_text("Autonomous Republic of Crimea")
    expect(page.locator(".region-level")).to_have_text("Autonomous republic")
    page.context.close()

    french = new_page(browser, lang="fr-FR")
    french.goto(server.url)
    live(french)
    expect(french.locator(f'#labels text[data-region-id="{CHERNIHIV}"]')).to_have_text("Tchernihiv")
    french.fill("#search-input", "Tchernihiv")
    expect(french.locator("#search-list li").first).to_contain_text("Oblast de Tchernihiv")
    french.goto(f"{server.url}/region/{SHOSTKA}")
    expect(french.locator("h1")).to_have_text("Hromada de Shostka")
    french.context.close()


SIREN_SPY = "window.sirens = 0; addEventListener('tryvoha:siren', () => { window.sirens += 1; });"


def test_the_siren_sounds_on_the_open_page(browser: Browser, server: ServerProcess) -> None:
    """The siren (need 4's part that belongs on the open page): turned on with a click,
    it sounds when the region goes red, not on yellow."""
    token = make_token(server.store_url, "national", ["UA"])
    page = new_page(browser)
    page.add_init_script(SIREN_SPY)
    page.goto(f"{server.url}/region/{LVIV}")
    live(page)
    page.click("#siren")
    expect(page.locator("#siren")).to_have_attribute("aria-pressed", "true")
    declare(server.url, token, LVIV, level="yellow")
    expect(page.locator("#region-state-word")).to_have_text("Підвищена небезпека")
    assert page.evaluate("window.sirens") == 0
    declare(server.url, token, LVIV)  # raised to red
    page.wait_for_function("() => window.sirens === 1", timeout=timeout(5) * 1000)
    page.reload()  # remembered
    expect(page.locator("#siren")).to_have_attribute("aria-pressed", "true")
    page.context.close()
