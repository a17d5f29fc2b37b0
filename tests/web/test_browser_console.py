"""The operator console in a real browser against a real `tryvoha serve`: it says what it
will do before it does it, and exactly what it did after, region by region (issue 16:
bugs 1 to 4, need 6)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, expect

from tests.conftest import KHARKIV, KYIV_CITY, LVIV
from tests.support.server import ServerProcess, timeout
from tests.web.browser import (
    declare,
    make_token,
    new_page,
    oblast_ids,
    region,
    shot,
    sign_in,
)

pytestmark = pytest.mark.browser

SUMY = "UA59000000000057109"
SHOSTKA = "UA59100170000093676"


def active(url: str) -> list[dict[str, object]]:
    alerts: list[dict[str, object]] = httpx.get(
        f"{url}/api/v1/alerts/active", timeout=timeout(10)
    ).json()["alerts"]
    return alerts


def confirm(page: Page) -> None:
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    page.click("#confirm-ok")
    expect(dialog).to_be_hidden()


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

    page.click(region(KYIV_CITY))  # outside the token's scope
    expect(page.locator("#pick-refused")).to_have_text("м. Київ — поза вашою юрисдикцією.")
    expect(page.locator("#picked-list li")).to_have_count(0)
    page.fill("#pick-search", "Харківська")
    expect(page.locator("#pick-results li").first).to_have_attribute("aria-disabled", "true")

    page.click(region(LVIV))
    expect(page.locator("#picked-list li")).to_have_count(1)
    page.select_option("#threat", "air_raid")
    page.check("input[name=kind][value=drones]")
    page.fill("#message-uk", "Загроза ударних БпЛА. Пройдіть в укриття.")
    # the button says what it will do: level, threat and how many regions (need 6)
    expect(page.locator("#declare")).to_have_text(
        "Оголосити червону тривогу (повітряна тривога): 1 регіон"
    )
    page.click("#declare")
    what = page.locator("#confirm-what")  # the confirmation repeats it all
    expect(what).to_contain_text("Повітряна тривога")
    expect(what).to_contain_text("Червоний — негайно в укриття")
    expect(what).to_contain_text("Ударні БпЛА")
    expect(what).to_contain_text("Загроза ударних БпЛА. Пройдіть в укриття.")
    expect(what).to_contain_text("Львівська область")
    confirm(page)
    expect(page.locator("#declare-result [data-outcome=new]")).to_have_text(
        "Нова тривога: 1 регіон — Львівська область"
    )
    expect(page.locator(f'{region(LVIV)}[data-state="alert"]')).to_have_count(1)
    expect(page.locator("#scope-alerts > li")).to_have_count(1)
    expect(page.locator("#my-events li")).to_have_count(1)

    page.click("#scope-alerts > li button:has-text('Відбій')")
    expect(page.locator("#clear-result")).to_contain_text("Відбій: 1 тривога")
    expect(page.locator("#scope-alerts > li")).to_have_count(0)
    expect(page.locator(f'{region(LVIV)}[data-state="clear"]')).to_have_count(1)
    expect(page.locator("#my-events li")).to_have_count(2)
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_choosing_yellow_leaves_the_map_level_alone(
    browser: Browser, server: ServerProcess
) -> None:
    """Bug 1: the declare form's radios shared name="level" with the map's layer switch;
    choosing Yellow asked the map for a layer named "yellow" (GET /undefined, 404)."""
    token = make_token(server.store_url, "national", ["UA"])
    page = new_page(browser)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    failed: list[Request] = []
    page.on("requestfailed", lambda r: failed.append(r))
    sign_in(page, server.url, token)
    page.check("input[name=level][value=yellow]")
    page.click("[data-zoom=in]")
    page.click("[data-zoom=in]")  # 1.8 x 1.8: the raion layer
    expect(page.locator("#map")).to_have_attribute("data-level", "raion")
    expect(page.locator("input[name=map-level][value=raion]")).to_be_checked()
    expect(page.locator("input[name=level][value=yellow]")).to_be_checked()
    expect(page.locator("#layer-base path")).to_have_count(137, timeout=timeout(10) * 1000)
    assert not [u for u in asked if "undefined" in u], asked
    assert not failed and not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_enter_on_a_search_result_keeps_the_keyboard_in_the_search(
    browser: Browser, server: ServerProcess
) -> None:
    """Bug 2 (console): the chosen result is removed; focus went to the body."""
    token = make_token(server.store_url, "national", ["UA"])
    page = new_page(browser)
    sign_in(page, server.url, token)
    page.focus("#pick-search")
    page.keyboard.type("Шосткинська")
    expect(page.locator("#pick-results li").first).to_contain_text("Шосткинськ")
    page.keyboard.press("ArrowDown")  # into the results
    page.keyboard.press("Enter")
    expect(page.locator("#picked-list li")).to_have_count(1)
    assert page.evaluate("document.activeElement.id") == "pick-search"
    page.keyboard.type("Сумська")  # and the next search goes on from the keyboard
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#picked-list li")).to_have_count(2)
    page.context.close()


def test_the_result_says_what_happened_per_region_and_offers_to_update(
    browser: Browser, server: ServerProcess
) -> None:
    """Bug 3: "Оголошено: 15 тривог" when some were new, one raised from yellow and the
    rest untouched (their new message silently not applied)."""
    token = make_token(server.store_url, "national", ["UA"])
    declare(server.url, token, LVIV, level="yellow")
    declare(server.url, token, KHARKIV, message={"uk": "Старе повідомлення"})
    page = new_page(browser)
    sign_in(page, server.url, token)
    for rid in (LVIV, KHARKIV, SUMY):
        page.click(region(rid))
    expect(page.locator("#picked-list li")).to_have_count(3)
    # flagged before sending (need 6)
    expect(page.locator(f'#picked-list li[data-region-id="{LVIV}"]')).to_have_attribute(
        "data-active", "yellow"
    )
    expect(page.locator(f'#picked-list li[data-region-id="{KHARKIV}"]')).to_have_attribute(
        "data-active", "red"
    )
    expect(page.locator("#picked-active")).to_contain_text("Уже активна в 2 регіонах")
    page.check("input[name=kind][value=ballistic_missiles]")
    page.fill("#message-uk", "Балістика з півночі. Усі в укриття.")
    page.click("#declare")
    expect(page.locator("#confirm-what")).to_contain_text("Уже активна тривога цього типу")
    confirm(page)
    result = page.locator("#declare-result")
    expect(result.locator("[data-outcome=new]")).to_have_text(
        "Нова тривога: 1 регіон — Сумська область"
    )
    expect(result.locator("[data-outcome=raised]")).to_have_text(
        "Піднято з жовтого до червоного: 1 — Львівська область"
    )
    expect(result.locator("[data-outcome=untouched]")).to_have_text(
        "Без змін, уже була активна: 1 — Харківська область"
    )
    expect(result).to_contain_text("Нове повідомлення і загрози не застосовано до 2 активних")
    shot(page, "console-outcome")
    page.click("#update-active")
    expect(page.locator("#update-result")).to_have_text("Оновлено: 2 тривоги.")
    by_region = {a["region_id"]: a for a in active(server.url)}
    for rid in (LVIV, KHARKIV, SUMY):
        alert = by_region[rid]
        assert alert["level"] == "red"
        assert alert["message"] == {"uk": "Балістика з півночі. Усі в укриття.", "en": None}
        assert [k["kind"] for k in alert["threats"]] == ["ballistic_missiles"]  # type: ignore[index]
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_the_form_is_reset_and_no_outline_stays(browser: Browser, server: ServerProcess) -> None:
    """Bug 4: the next declare re-sent the previous threats and message; a stale outline
    stayed on the last clicked region."""
    token = make_token(server.store_url, "national", ["UA"])
    page = new_page(browser)
    sign_in(page, server.url, token)
    page.click(region(LVIV))
    page.click(region(LVIV))  # picked, then unpicked
    expect(page.locator("#picked-list li")).to_have_count(0)
    expect(page.locator("#selection > *")).to_have_count(0)
    expect(page.locator(region(LVIV))).to_have_attribute("data-picked", "false")

    page.click(region(LVIV))
    page.check("input[name=level][value=yellow]")
    page.check("input[name=kind][value=drones]")
    page.fill("#message-uk", "Перше повідомлення")
    page.click("#declare")
    confirm(page)
    expect(page.locator("#declare-result [data-outcome=new]")).to_be_visible()
    expect(page.locator("input[name=kind]:checked")).to_have_count(0)
    expect(page.locator("#message-uk")).to_have_value("")
    expect(page.locator("input[name=level][value=red]")).to_be_checked()
    expect(page.locator("#picked-list li")).to_have_count(0)
    expect(page.locator("#selection > *")).to_have_count(0)

    page.click(region(KHARKIV))
    page.click("#declare")
    confirm(page)
    expect(page.locator("#declare-result [data-outcome=new]")).to_contain_text("Харківська")
    kharkiv = next(a for a in active(server.url) if a["region_id"] == KHARKIV)
    assert kharkiv["threats"] == [] and kharkiv["message"] is None and kharkiv["level"] == "red"
    page.context.close()


def test_an_active_alert_is_edited_and_the_list_is_compact_and_filterable(
    browser: Browser, server: ServerProcess
) -> None:
    """Need 6: PATCH from the console; 51 alerts are a scrolled list with a filter."""
    token = make_token(server.store_url, "national", ["UA"])
    sumy_hromadas = [
        r["id"]
        for r in httpx.get(f"{server.url}/api/v1/regions", timeout=timeout(10)).json()["regions"]
        if r["level"] == "hromada" and r["id"].startswith("UA59")
    ]
    assert len(sumy_hromadas) == 51 and SHOSTKA in sumy_hromadas
    declare(server.url, token, *sumy_hromadas)
    page = new_page(browser)
    sign_in(page, server.url, token)
    items = page.locator("#scope-alerts > li")
    expect(items).to_have_count(51)
    box = page.locator("#scope-alerts").bounding_box()
    assert box and box["height"] < 600, box  # not 5,000 px of rows
    page.fill("#scope-filter", "Шосткинська")
    expect(items).to_have_count(1)
    item = items.first
    expect(item).to_contain_text("Шосткинська територіальна громада")

    item.locator("button:has-text('Змінити')").click()
    edit = page.locator("#edit")
    expect(edit).to_be_visible()
    expect(page.locator("#edit-title")).to_contain_text("Шосткинська")
    page.check("input[name=edit-level][value=yellow]")
    page.check("input[name=edit-kind][value=guided_aerial_bombs]")
    page.fill("#edit-message-uk", "КАБи на Шостку")
    page.click("#edit-ok")
    expect(page.locator("#clear-result")).to_have_text("Оновлено: 1 тривога.")
    shostka = next(a for a in active(server.url) if a["region_id"] == SHOSTKA)
    assert shostka["level"] == "yellow"
    assert shostka["message"] == {"uk": "КАБи на Шостку", "en": None}
    expect(item).to_contain_text("Керовані авіабомби")  # the stream brought the change
    shot(page, "console-list")
    page.context.close()


def test_console_asks_before_declaring_for_most_of_the_country(
    browser: Browser, server: ServerProcess
) -> None:
    token = make_token(server.store_url, "national", ["UA"])
    page = new_page(browser)
    sign_in(page, server.url, token)
    oblasts = page.locator("#layer-base path")
    for i in range(14):  # 14 of 27: more than half, picked from the keyboard
        oblasts.nth(i).focus()
        page.keyboard.press("Enter")
    expect(page.locator("#picked-list li")).to_have_count(14)
    page.click("#declare")
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-warn")).to_contain_text("з 27 областей?")
    page.click("#confirm button[value=cancel]")
    expect(page.locator("#declare-result")).to_have_text("")
    assert active(server.url) == []
    assert len(oblast_ids(server.url)) == 27
    page.context.close()
