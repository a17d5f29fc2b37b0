"""The Atom feed of a real `tryvoha serve`, read as a feed reader reads it: parsed with
feedparser, every entry's link followed over HTTP to a valid CAP 1.2 message."""

from __future__ import annotations

from importlib import resources

import feedparser
import httpx
import xmlschema

from tests.conftest import KHARKIV, KYIV_CITY, LVIV
from tests.support.server import ServerProcess, make_token, timeout
from tryvoha.protocol import cap


def test_every_feed_entry_links_to_a_valid_message(server: ServerProcess, store_url: str) -> None:
    xsd = resources.files("tryvoha.data.spec").joinpath("cap-1.2.xsd")
    with resources.as_file(xsd) as path:
        schema = xmlschema.XMLSchema(str(path))
    headers = {"Authorization": f"Bearer {make_token(store_url, 'national', ['UA'])}"}
    with httpx.Client(base_url=server.url, timeout=timeout(10)) as client:
        declared = client.post(
            "/api/v1/alerts",
            json={
                "regions": [LVIV, KYIV_CITY, KHARKIV],
                "threats": [{"kind": "drones"}],
                "message": {"uk": "Тривога", "en": "Air raid"},
            },
            headers=headers,
        )
        assert declared.status_code == 201
        kyiv = next(a for a in declared.json()["alerts"] if a["region_id"] == KYIV_CITY)
        cleared = client.post(f"/api/v1/alerts/{kyiv['id']}/clear", headers=headers)
        assert cleared.status_code == 200

        feed_url = f"{server.url}/cap/feed.atom"
        response = client.get("/cap/feed.atom")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/atom+xml"
        parsed = feedparser.parse(
            response.content,
            response_headers={**response.headers, "content-location": feed_url},
        )
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.version == "atom10"
        assert len(parsed.entries) == 3
        seen = set()
        for entry in parsed.entries:
            (link,) = [x for x in entry.links if x.rel == "alternate"]
            assert link.type == "application/cap+xml"
            assert link.href.startswith(server.url + "/cap/messages/")
            message = httpx.get(link.href, timeout=timeout(10))
            assert message.status_code == 200
            assert message.headers["content-type"] == "application/cap+xml"
            schema.validate(message.content)
            seen.add(cap.parse(message.content).incidents)
        assert seen == {a["id"] for a in declared.json()["alerts"]}
        # the clear is the newest entry, and it is an all clear
        assert parsed.entries[0].title.startswith("Відбій")

        etag = response.headers["etag"]
        again = client.get("/cap/feed.atom", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
