"""The pages and their data over ASGI (tier 2): what a browser gets before any script runs."""

from __future__ import annotations

import gzip
import re

import pytest

from tests.conftest import KYIV_CITY, KYIV_OBLAST, LVIV
from tests.server.conftest import Api
from tryvoha.domain.regions import RegionTree

pytestmark = pytest.mark.anyio
UA = "UA"


def shape_state(html: str, region_id: str) -> str:
    match = re.search(rf'data-region-id="{region_id}" data-state="(\w+)"', html)
    assert match, f"no shape for {region_id}"
    return match.group(1)


async def test_map_page_draws_every_oblast_in_its_state(api: Api) -> None:
    headers = await api.token("national", UA)
    page = await api.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-language"] == "uk"
    assert "script-src 'self' 'sha256-" in page.headers["content-security-policy"]
    html = page.text
    assert html.count('data-state="clear"') >= 27
    assert "Тривог немає" in html
    declared = await api.client.post(
        "/api/v1/alerts", json={"regions": [KYIV_CITY]}, headers=headers
    )
    assert declared.status_code == 201
    html = (await api.client.get("/")).text
    assert shape_state(html, KYIV_CITY) == "alert"
    assert shape_state(html, KYIV_OBLAST) == "clear"
    assert f'"seq":{declared.json()["seq"]}' in html  # the script resumes from here
    assert "Тривога в 1 області з 27" in html
    assert "<title>(1) Мапа тривог" in html


async def test_a_hromada_alert_makes_its_oblast_partial(api: Api, tree: RegionTree) -> None:
    headers = await api.token("lviv", LVIV)
    hromada = next(r for r in tree.descendants(LVIV) if tree.get(r).level.value == "hromada")
    await api.client.post("/api/v1/alerts", json={"regions": [hromada]}, headers=headers)
    html = (await api.client.get("/")).text
    assert shape_state(html, LVIV) == "partial"


async def test_language_from_accept_language_and_the_remembered_switch(api: Api) -> None:
    page = await api.client.get("/", headers={"Accept-Language": "fr-CA,fr;q=0.9"})
    assert page.headers["content-language"] == "fr" and '<html lang="fr">' in page.text
    switched = await api.client.get("/lang/en?next=/region/" + LVIV)
    assert switched.status_code == 303 and switched.headers["location"] == "/region/" + LVIV
    assert "tryvoha_lang=en" in switched.headers["set-cookie"]
    page = await api.client.get("/", headers={"Accept-Language": "fr"})  # the cookie wins
    assert page.headers["content-language"] == "en"
    assert (
        '<h1 class="region-name">Lviv Oblast</h1>' in (await api.client.get(f"/region/{LVIV}")).text
    )


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example", "/\\evil", "javascript:x"]
)
async def test_the_switch_never_redirects_off_site(api: Api, target: str) -> None:
    answer = await api.client.get("/lang/en", params={"next": target})
    assert answer.headers["location"] == "/"


async def test_region_page_shows_state_children_and_history(api: Api) -> None:
    headers = await api.token("national", UA)
    first = await api.client.post("/api/v1/alerts", json={"regions": [LVIV]}, headers=headers)
    await api.client.post(
        f"/api/v1/alerts/{first.json()['alerts'][0]['id']}/clear", headers=headers
    )
    await api.client.post(
        "/api/v1/alerts", json={"regions": [LVIV], "threat": "artillery_shelling"}, headers=headers
    )
    html = (await api.client.get(f"/region/{LVIV}")).text
    assert '<h1 class="region-name">Львівська область</h1>' in html
    assert (
        'id="region-state" role="status" data-state="alert" data-threat="artillery_shelling"'
        in html
    )
    assert html.count("<tr data-threat=") == 2  # both alerts in the history
    assert "Львівський район" in html  # its raions are listed
    missing = await api.client.get("/region/UA00000000000000000")
    assert missing.status_code == 404 and "Сторінку не знайдено" in missing.text


async def test_history_pages_with_cursors(api: Api) -> None:
    headers = await api.token("national", UA)
    for _ in range(30):
        declared = await api.client.post(
            "/api/v1/alerts", json={"regions": [LVIV]}, headers=headers
        )
        await api.client.post(
            f"/api/v1/alerts/{declared.json()['alerts'][0]['id']}/clear", headers=headers
        )
    html = (await api.client.get(f"/region/{LVIV}")).text
    assert html.count("<tr data-threat=") == 25
    cursor = re.search(r'\?cursor=([^"#]+)#history-title" rel="next"', html)
    assert cursor
    older = (await api.client.get(f"/region/{LVIV}?cursor={cursor.group(1)}")).text
    assert older.count("<tr data-threat=") == 5 and 'rel="next"' not in older


async def test_console_page(api: Api) -> None:
    html = (await api.client.get("/console")).text
    assert 'id="signin-form"' in html and 'type="password"' in html


async def test_static_files_are_versioned_and_gzipped(api: Api) -> None:
    html = (await api.client.get("/")).text
    url = re.search(r'href="(/static/css/site\.css\?v=\w+)"', html)
    assert url
    answer = await api.client.get(url.group(1), headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200 and "immutable" in answer.headers["cache-control"]
    assert answer.headers["content-encoding"] == "gzip"
    again = await api.client.get(url.group(1), headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    unversioned = await api.client.get("/static/css/site.css")
    assert unversioned.headers["cache-control"] == "public, no-cache"
    importmap = re.search(r'<script type="importmap">(.*?)</script>', html)
    assert importmap and '"/static/js/map.js":"/static/js/map.js?v=' in importmap.group(1)
    assert (await api.client.get("/static/../pyproject.toml")).status_code == 404


async def test_map_data(api: Api) -> None:
    index = await api.client.get("/map/regions.json")
    assert len(index.json()["regions"]) == 1936
    raions = (await api.client.get("/map/layers/raion.json")).json()
    assert len(raions["shapes"]) == 137 and raions["projection"]["name"] == "albers"
    lviv = (await api.client.get(f"/map/layers/hromada.json?oblast={LVIV}")).json()
    assert 70 < len(lviv["shapes"]) < 80
    assert (await api.client.get("/map/layers/street.json")).status_code == 404
    bad = await api.client.get("/map/layers/hromada.json?oblast=UA")
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_locate(api: Api) -> None:
    found = await api.client.get("/api/v1/locate", params={"lat": 49.8419, "lon": 24.0316})
    assert found.status_code == 200
    body = found.json()
    assert body["oblast"]["id"] == LVIV and body["hromada"]["name_en"].startswith("Lvivska")
    assert body["region_id"] == body["hromada"]["id"] and body["approximate"] is False
    assert "max-age" in found.headers["cache-control"]
    sea = await api.client.get("/api/v1/locate", params={"lat": 43.5, "lon": 31.5})
    assert sea.status_code == 404 and sea.json()["code"] == "outside_country"
    assert sea.headers["content-type"] == "application/problem+json"
    bad = await api.client.get("/api/v1/locate", params={"lat": 95, "lon": 24})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_parameter"


async def test_pages_are_gzipped_when_asked(api: Api) -> None:
    answer = await api.client.get("/", headers={"Accept-Encoding": "gzip"})
    assert answer.headers["content-encoding"] == "gzip"
    assert "Vary" in answer.headers and "Accept-Language" in answer.headers["vary"]
    raw = await api.client.get("/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert raw.content == answer.content  # httpx undoes the gzip
    assert len(gzip.compress(raw.content)) < 40_000  # the whole first paint, map included
