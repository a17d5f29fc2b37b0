"""Accessibility, checked by axe-core in the page (issue 16, need 9): no serious or
critical WCAG 2.1 A/AA violation on the map, a region page, the console signed in and a
missing page, in the light theme and the dark one, with alerts of several threat types
and levels on show (colour contrast of the headline among them)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import KHARKIV, KYIV_CITY, LVIV
from tests.support.server import ServerProcess
from tests.web.browser import (
    PHONE,
    axe_violations,
    declare,
    explain,
    live,
    make_token,
    new_page,
    sign_in,
)

pytestmark = pytest.mark.browser

SUMY = "UA59000000000057109"
SHOSTKA = "UA59100170000093676"


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_no_serious_violation_on_any_page(
    browser: Browser, server: ServerProcess, dark: bool
) -> None:
    token = make_token(server.store_url, "national", ["UA"])
    declare(server.url, token, KHARKIV, threats=["ballistic_missiles"], message={"uk": "Увага"})
    declare(server.url, token, KHARKIV, threat="artillery_shelling")
    declare(server.url, token, SUMY, level="yellow")
    declare(server.url, token, KYIV_CITY, threat="chemical")
    declare(server.url, token, "UA46060250000025047")  # a hromada: Lviv oblast partial
    page = new_page(browser, dark=dark)
    page.add_init_script(f"localStorage.setItem('tryvoha.myplace', '{SHOSTKA}')")
    found = {}

    page.goto(server.url)
    live(page)
    expect(page.locator("#myplace .threat-lines > li")).to_have_count(1)
    found["/"] = axe_violations(page)

    for rid in (KHARKIV, SHOSTKA, LVIV, KYIV_CITY):
        page.goto(f"{server.url}/region/{rid}")
        live(page)
        expect(page.locator("#charts figure")).to_have_count(2)
        found[f"/region/{rid}"] = axe_violations(page)

    sign_in(page, server.url, token)
    page.click(f'#layer-base [data-region-id="{SUMY}"]')
    expect(page.locator("#scope-alerts > li")).to_have_count(5)
    found["/console"] = axe_violations(page)

    page.goto(f"{server.url}/region/UA00000000000000000")
    found["404"] = axe_violations(page)
    page.context.close()

    phone = new_page(browser, PHONE, dark=dark)
    phone.goto(server.url)
    live(phone)
    found["/ at 390 px"] = axe_violations(phone)
    phone.context.close()

    bad = {where: explain(v) for where, v in found.items() if v}
    assert not bad, "\n".join(f"{where}:\n{text}" for where, text in bad.items())
