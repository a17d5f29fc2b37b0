"""The screenshots in docs/ (the README shows them), taken from a real server with a
morning's worth of alerts: several threat types, levels and kinds, the standing alerts,
a place chosen. Each also checks what it shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import KHARKIV, KYIV_CITY, LVIV
from tests.support.server import ServerProcess
from tests.web.browser import PHONE, declare, live, make_token, new_page, region, shot, sign_in

pytestmark = pytest.mark.browser

SUMY = "UA59000000000057109"
SHOSTKA = "UA59100170000093676"
ODESA = "UA51000000000030770"
DNIPRO = "UA12000000000090473"
ZAPORIZHZHIA = "UA23000000000064947"
POLTAVA = "UA53000000000028050"
CHERNIHIV = "UA74000000000025378"


@pytest.fixture
def morning(store_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    proc = ServerProcess(store_url, cwd=tmp_path, standing=True)
    proc.start()
    token = make_token(proc.store_url, "national", ["UA"])
    url = proc.url
    attack = {"uk": "Ракетна атака. Негайно прямуйте в укриття.", "en": "Missile attack."}
    declare(url, token, KHARKIV, DNIPRO, ZAPORIZHZHIA, threats=["ballistic_missiles"])
    declare(url, token, KHARKIV, ZAPORIZHZHIA, threat="artillery_shelling")
    declare(url, token, KYIV_CITY, ODESA, POLTAVA, threats=["cruise_missiles"], message=attack)
    declare(url, token, CHERNIHIV, threats=["drones"])
    declare(url, token, SUMY, level="yellow")
    declare(
        url,
        token,
        SHOSTKA,
        threats=["ballistic_missiles", "drones"],
        message={"uk": "Балістика з півночі. Усі в укриття!", "en": "Ballistic threat."},
    )
    yield proc, token
    proc.stop()


def as_mine(page: Page) -> None:
    page.add_init_script(f"localStorage.setItem('tryvoha.myplace', '{SHOSTKA}')")


def test_docs_screenshots(browser: Browser, morning: tuple[ServerProcess, str]) -> None:
    server, token = morning
    for name, viewport, dark in (
        ("map-desktop", None, False),
        ("map-dark", None, True),
        ("map-phone", PHONE, False),
    ):
        page = new_page(browser, viewport, dark=dark) if viewport else new_page(browser, dark=dark)
        as_mine(page)
        page.goto(server.url)
        live(page)
        expect(page.locator("#myplace .threat-lines > li")).to_have_count(1)
        expect(page.locator("#summary-title")).to_have_text("Тривога в 9 областях з 27")
        expect(
            page.locator(f'#badges .badge[data-region-id="{KHARKIV}"] .badge-type')
        ).to_have_count(2)
        expect(page.locator('#layer-base [data-standing="true"]')).to_have_count(2)
        shot(page, name, docs=True)
        assert not page.errors  # type: ignore[attr-defined]
        page.context.close()

    page = new_page(browser)
    sign_in(page, server.url, token)
    for rid in (LVIV, SUMY, KHARKIV):
        page.click(region(rid))
    page.check("input[name=kind][value=drones]")
    page.fill("#message-uk", "Загроза ударних БпЛА з північного сходу.")
    expect(page.locator("#picked-active")).to_contain_text("Уже активна в 2 регіонах")
    expect(page.locator("#declare")).to_have_text(
        "Оголосити червону тривогу (повітряна тривога): 3 регіони"
    )
    page.evaluate("scrollTo(0, 0)")
    shot(page, "console-desktop", docs=True)
    page.context.close()

    page = new_page(browser)
    page.goto(f"{server.url}/region/{SHOSTKA}")
    live(page)
    expect(page.locator("#threat-lines > li")).to_have_count(1)
    shot(page, "region-desktop", docs=True)
    page.context.close()
