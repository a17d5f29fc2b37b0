"""The CAP routes in-process: messages of real declares, updates and clears; the newest
message of an alert; the Atom feed's window, ETag and 304; 404s that write nothing;
imported history served but kept out of the feed; signed messages."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import feedparser
import httpx
import pytest
import xmlschema
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import KYIV_CITY, LVIV
from tests.server.conftest import Api
from tryvoha.config import Settings
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, ThreatType
from tryvoha.domain.events import EventType, PendingEvent
from tryvoha.domain.regions import Level
from tryvoha.protocol import cap, cap_sign
from tryvoha.server.app import create_app
from tryvoha.store import open_store

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    xsd = resources.files("tryvoha.data.spec").joinpath("cap-1.2.xsd")
    with resources.as_file(xsd) as path:
        return xmlschema.XMLSchema(str(path))


async def declare(api: Api, headers: dict[str, str], body: dict[str, object]) -> dict[str, object]:
    response = await api.client.post("/api/v1/alerts", json=body, headers=headers)
    assert response.status_code == 201, response.text
    answer: dict[str, object] = response.json()
    return answer


async def test_declare_update_clear_have_valid_messages_that_reference_each_other(
    api: Api, schema: xmlschema.XMLSchema
) -> None:
    headers = await api.token("national", "UA")
    oblasts = [r.id for r in api.services.tree.at_level(Level.OBLAST)]
    nationwide = await declare(
        api, headers, {"regions": oblasts, "threats": [{"kind": "ballistic_missiles"}]}
    )
    alerts = nationwide["alerts"]
    assert isinstance(alerts, list) and len(alerts) == 27
    lviv = next(a for a in alerts if a["region_id"] == LVIV)
    patched = await api.client.patch(
        f"/api/v1/alerts/{lviv['id']}",
        json={"level": "yellow", "message": {"uk": "Загроза", "en": "Threat"}},
        headers=headers,
    )
    cleared = await api.client.post(f"/api/v1/alerts/{lviv['id']}/clear", headers=headers)
    last = int(cleared.json()["seq"])
    assert last == 29 and patched.json()["seq"] == 28
    messages = {}
    for seq in range(1, last + 1):
        response = await api.client.get(f"/cap/messages/{seq}.xml")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/cap+xml"
        schema.validate(response.content)
        messages[seq] = cap.parse(response.content)
    regions = {dict(m.infos[0].geocodes)["KATOTTG"] for s, m in messages.items() if s <= 27}
    assert regions == set(oblasts)
    declared = next(m for m in messages.values() if m.incidents == lviv["id"])
    update, clear = messages[28], messages[29]
    assert (declared.msg_type, update.msg_type, clear.msg_type) == ("Alert", "Update", "Update")
    assert [i.language for i in update.infos] == ["uk-UA", "en-US"]
    assert clear.infos[0].response == "AllClear"
    ref = cap.Reference(declared.sender, declared.identifier, declared.sent)
    assert update.references == (ref,)
    assert clear.references == (ref, cap.Reference(update.sender, update.identifier, update.sent))
    # the newest message of the alert is the clear, byte for byte
    newest = await api.client.get(f"/cap/alerts/{lviv['id']}.xml")
    again = await api.client.get("/cap/messages/29.xml")
    assert newest.content == again.content and newest.headers["etag"] == again.headers["etag"]
    assert newest.headers["cache-control"] == "public, max-age=1"
    revalidated = await api.client.get(
        "/cap/messages/29.xml", headers={"If-None-Match": again.headers["etag"]}
    )
    assert revalidated.status_code == 304 and revalidated.content == b""


async def test_the_feed_lists_the_newest_message_of_each_alert_newest_first(api: Api) -> None:
    headers = await api.token("national", "UA")
    first = await declare(api, headers, {"regions": [LVIV]})
    second = await declare(api, headers, {"regions": [KYIV_CITY]})
    lviv_id = first["alerts"][0]["id"]  # type: ignore[index]
    await api.client.post(f"/api/v1/alerts/{lviv_id}/clear", headers=headers)
    response = await api.client.get("/cap/feed.atom")
    assert response.headers["content-type"] == "application/atom+xml"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    links = [
        next(link.href for link in e.links if link.type == "application/cap+xml")
        for e in parsed.entries
    ]
    assert links == ["/cap/messages/3.xml", "/cap/messages/2.xml"]  # the clear, then Kyiv
    assert parsed.entries[0].title.startswith("Відбій")
    assert int(second["seq"]) == 2  # type: ignore[call-overload]

    etag = response.headers["etag"]
    same = await api.client.get("/cap/feed.atom", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.headers["etag"] == etag
    await declare(api, headers, {"regions": [LVIV], "threat": "artillery_shelling"})
    changed = await api.client.get("/cap/feed.atom", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert len(feedparser.parse(changed.content).entries) == 3

    # a day later the cleared alert has left the feed; the active ones stay
    views = api.services.cap
    later = views.feed_document(datetime.now(UTC) + timedelta(hours=24, minutes=1))
    entries = feedparser.parse(later.body).entries
    assert len(entries) == 2 and later.etag != changed.headers["etag"]
    assert all("Відбій" not in e.title for e in entries)


@pytest.mark.parametrize(
    "path",
    [
        "/cap/messages/999.xml",
        "/cap/messages/0.xml",
        "/cap/messages/-1.xml",
        "/cap/messages/abc.xml",
        "/cap/messages/1e3.xml",
        "/cap/messages/99999999999999999999999.xml",
        "/cap/alerts/nope.xml",
        "/cap/alerts/%20%3Cx%3E.xml",
    ],
)
async def test_unknown_events_and_alerts_are_problem_404s_that_write_nothing(
    api: Api, path: str
) -> None:
    headers = await api.token("national", "UA")
    await declare(api, headers, {"regions": [LVIV]})
    before = await api.services.store.last_seq()
    response = await api.client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] in ("unknown_event", "unknown_alert")
    assert await api.services.store.last_seq() == before == await api.seq()


async def seeded(store_url: str) -> None:
    """Before the server starts: imported history, a live alert ended an hour ago and one
    ended two days ago."""
    store = open_store(store_url)
    await store.open()
    now = datetime.now(UTC)

    def ended(n: int, issuer: str, start: datetime, end: datetime) -> list[PendingEvent]:
        alert = Alert(
            AlertId(f"seed{n}"), LVIV, ThreatType.AIR_RAID, AlertLevel.RED, (), None,
            start, start, None, issuer,
        )  # fmt: skip
        done = replace(alert, ended_at=end, updated_at=end)
        return [
            PendingEvent(EventType.DECLARED, start, issuer, alert),
            PendingEvent(EventType.CLEARED, end, issuer, done),
        ]

    await store.append_batch(
        ended(
            1,
            "history:official",
            datetime(2022, 3, 15, tzinfo=UTC),
            datetime(2022, 3, 15, 1, tzinfo=UTC),
        )
        + ended(2, "kyiv", now - timedelta(hours=2), now - timedelta(hours=1))
        + ended(3, "kyiv", now - timedelta(days=2, hours=1), now - timedelta(days=2))
    )
    await store.close()


async def test_history_is_served_but_not_fed_and_a_restart_rebuilds_the_feed(
    store_url: str, schema: xmlschema.XMLSchema
) -> None:
    await seeded(store_url)
    app = create_app(Settings(store=store_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for seq in (1, 2):  # the imported 2022 alert
                response = await client.get(f"/cap/messages/{seq}.xml")
                schema.validate(response.content)
            assert cap.parse(response.content).infos[0].parameters[-1] == (
                "issuer",
                "history:official",
            )
            feed = feedparser.parse((await client.get("/cap/feed.atom")).content)
            hrefs = [e.links[0].href for e in feed.entries]
            assert hrefs == ["/cap/messages/4.xml"]  # only the live alert ended an hour ago


def make_key_and_cert(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alerts.example.gov.ua")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.fixture
async def signing(store_url: str, tmp_path: Path) -> AsyncIterator[tuple[Api, Path]]:
    key, cert = make_key_and_cert(tmp_path)
    settings = Settings(store=store_url, cap_sign_key=str(key), cap_sign_cert=str(cert))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Api(client, app.state.services), cert


async def test_signed_messages_verify_and_tampering_is_caught(
    signing: tuple[Api, Path], schema: xmlschema.XMLSchema, tmp_path: Path
) -> None:
    api, cert = signing
    headers = await api.token("lviv", LVIV)
    await declare(api, headers, {"regions": [LVIV], "message": {"uk": "Тривога", "en": "Alert"}})
    data = (await api.client.get("/cap/messages/1.xml")).content
    schema.validate(data)  # the signature is where CAP 1.2 allows it
    signed = cap_sign.verify(data, cert.read_bytes())
    assert cap.parse(signed).infos[0].description == "Тривога"
    tampered = data.replace("Тривога".encode(), "Відбій".encode())
    with pytest.raises(cap_sign.SignatureError):
        cap_sign.verify(tampered, cert.read_bytes())

    def verify(path: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tryvoha", "cap", "verify", str(path), "--cert", str(cert)]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    good, bad = tmp_path / "good.xml", tmp_path / "bad.xml"
    good.write_bytes(data)
    bad.write_bytes(tampered)
    ok = verify(good)
    assert (
        ok.returncode == 0 and ok.stdout.startswith("ok: ") and "alerts.example.gov.ua" in ok.stdout
    )
    refused = verify(bad)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: FILE: the signature does not verify")
    assert "Traceback" not in refused.stderr
    root = cap.parse_xml(data)
    root.remove(root[-1])  # the <Signature>
    unsigned = tmp_path / "unsigned.xml"
    unsigned.write_bytes(cap.to_bytes(root))
    plain = verify(unsigned)
    assert plain.returncode == 1 and "is not signed" in plain.stderr
    missing = verify(tmp_path / "nothing.xml")
    assert missing.returncode == 1 and missing.stderr.startswith("error: FILE: cannot read")
