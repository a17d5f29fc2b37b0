"""History that says what it is, in a real browser (issue 16, need 7): consolidated
(oblast-only) records labelled on hromada pages and drawn hatched on the map, the demo's
replay clock, and charts with a period picker, an explained empty window, CSV, and
text that stays readable on a 390 px phone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import LVIV
from tests.support.server import ServerProcess
from tests.web.browser import PHONE, declare, live, make_token, new_page, off_loop, region, shot
from tryvoha.domain.alerts import AlertId
from tryvoha.domain.history import PastAlert, Source, history_events
from tryvoha.domain.regions import RegionId
from tryvoha.store import open_store

pytestmark = pytest.mark.browser

LVIV_HROMADA = "UA46060250000025047"
REPLAY = "2024-11-13T04:30:00+00:00,2024-11-13T22:00:00+00:00,60,{anchor}"


async def write_consolidated(store_url: str, days_ago: int) -> None:
    """One record of the consolidated history: some alert somewhere in Lviv oblast."""
    store = open_store(store_url)
    await store.open()
    try:
        start = datetime.now(UTC) - timedelta(days=days_ago)
        record = PastAlert(
            AlertId("history-test-1"),
            Source.CONSOLIDATED,
            RegionId(LVIV),
            start,
            start + timedelta(hours=2),
        )
        await store.append_batch(history_events(record))
    finally:
        await store.close()


@pytest.fixture
def demo_server(store_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server as `tryvoha demo` starts it: a replay clock, a consolidated record in its log."""
    off_loop(asyncio.run, write_consolidated(store_url, 3))
    anchor = datetime.now(UTC).isoformat()
    proc = ServerProcess(store_url, ["--demo-replay", REPLAY.format(anchor=anchor)], cwd=tmp_path)
    proc.start()
    yield proc
    proc.stop()


def test_consolidated_records_are_hatched_and_labelled(
    browser: Browser, demo_server: ServerProcess
) -> None:
    url = demo_server.url
    token = make_token(demo_server.store_url, "demo:consolidated", ["UA"])
    declare(url, token, LVIV)  # the demo replaying a consolidated record
    page = new_page(browser)
    page.goto(url)
    live(page)
    # the replay clock: the replayed date and time, ticking
    expect(page.locator("#replay")).to_be_visible()
    expect(page.locator("#replay-clock")).to_contain_text("13 листопада 2024")
    assert "history:" not in page.content()  # no internal ids on the page
    lviv = page.locator(region(LVIV))
    expect(lviv).to_have_attribute("data-state", "partial")  # hatched, not a solid alert
    expect(lviv).to_have_attribute("data-vague", "true")
    assert "hatch-air_raid" in lviv.evaluate("n => getComputedStyle(n).fill")
    item = page.locator(f'#alerts > li[data-region-id="{LVIV}"]')
    expect(item.locator(".alert-note")).to_contain_text("Запис лише по області")
    shot(page, "demo-desktop")

    page.goto(f"{url}/region/{LVIV_HROMADA}")
    live(page)
    expect(page.locator("#region-state-word")).to_have_text("Тривога десь в області")
    expect(page.locator("#region-state-detail")).to_contain_text("Львівська область")
    expect(page.locator("#advice")).to_contain_text("У записі лише область")
    # the imported consolidated record in the history, labelled as what it is
    rows = page.locator("[aria-labelledby=history-title] tbody tr[data-consolidated=true]")
    expect(rows).to_have_count(2)  # the live replay and the imported record
    expect(rows.first.locator(".record-note")).to_have_text(
        "запис лише по області, не обов’язково тут"
    )
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_charts_pick_a_period_explain_an_empty_one_and_offer_csv(
    browser: Browser, server: ServerProcess
) -> None:
    token = make_token(server.store_url, "national", ["UA"])
    declared = declare(server.url, token, LVIV)
    page = new_page(browser)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/stats" in r.url else None)
    page.goto(f"{server.url}/region/{LVIV}")
    live(page)
    charts = page.locator("#charts")
    expect(charts.locator("figure")).to_have_count(2)
    assert "by=day" in asked[-1]
    page.get_by_role("radio", name="Рік").check()
    expect(charts).to_have_attribute("data-period", "year")
    assert "by=month" in asked[-1]
    page.get_by_role("radio", name="За годинами доби").check()
    expect(charts).to_have_attribute("data-period", "hours")
    assert "by=hour" in asked[-1]
    expect(charts.locator("figcaption").first).to_have_text("Тривог, що почалися в цю годину доби")
    csv = charts.locator("#stats-csv")
    assert (csv.get_attribute("download") or "").endswith("-hours.csv")
    with page.expect_download() as download:
        csv.click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("hour,alerts,minutes\n00,") and text.count("\n") == 25
    page.context.close()

    # a region with nothing in the window, on a server without the imported record
    assert declared["alerts"]
    empty = new_page(browser, PHONE)
    empty.goto(f"{server.url}/region/UA59000000000057109")
    live(empty)
    expect(empty.locator("#charts .stats-note")).to_contain_text(
        "на цьому сервері лише тривоги, оголошені на ньому"
    )
    # readable at 390 px: the axis text is drawn at its real size, not shrunk to 5 px
    size = empty.locator("#charts svg text").first.evaluate("t => t.getBoundingClientRect().height")
    assert size >= 10, size
    width = empty.locator("#charts svg").first.evaluate("s => s.getBoundingClientRect().width")
    assert width <= PHONE["width"]
    shot(empty, "region-phone")
    empty.context.close()
