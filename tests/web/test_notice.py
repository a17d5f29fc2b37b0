"""What a notification says: the pages' rules and catalogues, in the subscriber's
language; small enough for a push message whatever the issuer wrote."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from tryvoha import i18n
from tryvoha.domain.alerts import (
    Alert,
    AlertId,
    AlertLevel,
    Message,
    Threat,
    ThreatKind,
    ThreatType,
)
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.web.notice import MAX_NOTICE_BYTES, notice

SUMY = RegionId("UA59000000000057109")
NOW = datetime(2024, 11, 13, 5, 0, tzinfo=UTC)
SHELTER = Message("Прямуйте в укриття!", "Go to a shelter!")


def event(
    kind: EventType = EventType.DECLARED,
    level: AlertLevel = AlertLevel.RED,
    message: Message | None = SHELTER,
    issuer: str = "national",
    threat: ThreatType = ThreatType.AIR_RAID,
) -> Event:
    alert = Alert(
        AlertId("a1"),
        SUMY,
        threat,
        level,
        (Threat(ThreatKind.DRONES, NOW), Threat(ThreatKind.BALLISTIC_MISSILES, NOW)),
        message,
        NOW,
        NOW,
        NOW if kind is EventType.CLEARED else None,
        issuer,
    )
    return Event(Seq(7), kind, NOW, issuer, alert)


def read(e: Event, lang: str, tree: RegionTree) -> dict[str, object]:
    found: dict[str, object] = orjson.loads(notice(e, lang, tree, "ep0ch", NOW))
    return found


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_an_alert_says_where_what_is_coming_the_message_and_what_to_do(
    lang: str, tree: RegionTree
) -> None:
    t = i18n.catalogue(lang)
    shown = read(event(), lang, tree)
    assert shown["title"] == t(
        "region.notify_title_alert",
        name={"uk": "Сумська область", "en": "Sumy Oblast", "fr": "Oblast de Soumy"}[lang],
    )
    lines = str(shown["body"]).split("\n")
    assert lines[0] == t("threat.air_raid")
    assert lines[1] == f"{t('kind.ballistic_missiles')}, {t('kind.drones')}"
    assert lines[2] == ("Прямуйте в укриття!" if lang == "uk" else "Go to a shelter!")
    assert lines[3] == t("advice.air_raid")
    assert (shown["id"], shown["seq"], shown["tag"], shown["url"]) == (
        "ep0ch:7",
        7,
        "a1",
        f"/region/{SUMY}",
    )
    assert shown["urgent"] is True and shown["lang"] == lang


def test_yellow_and_other_threats_are_worded_as_on_the_pages(tree: RegionTree) -> None:
    t = i18n.catalogue("en")
    yellow = read(event(level=AlertLevel.YELLOW, message=None), "en", tree)
    assert yellow["title"] == "Elevated danger: Sumy Oblast"
    assert (
        str(yellow["body"]).split("\n")[0] == f"{t('threat.air_raid')} · {t('level.yellow_short')}"
    )
    assert str(yellow["body"]).endswith(t("advice.yellow")) and yellow["urgent"] is False
    shelling = read(event(threat=ThreatType.ARTILLERY_SHELLING), "en", tree)
    assert str(shelling["body"]).endswith(t("advice.artillery_shelling"))


def test_the_all_clear(tree: RegionTree) -> None:
    for lang, title, body in (
        ("uk", "Відбій: Сумська область", "Повітряна тривога: відбій."),
        ("en", "All clear: Sumy Oblast", "Air raid alert: all clear."),
    ):
        shown = read(event(EventType.CLEARED), lang, tree)
        assert (shown["title"], shown["body"], shown["urgent"]) == (title, body, False)


def test_a_long_message_is_cut_to_fit_a_push_message(tree: RegionTree) -> None:
    long = Message("Дуже довге повідомлення. " * 400, None)
    raw = notice(event(message=long), "uk", tree, "ep0ch", NOW)
    assert len(raw) <= MAX_NOTICE_BYTES
    lines = orjson.loads(raw)["body"].split("\n")
    assert lines[2].endswith("…") and lines[3] == i18n.catalogue("uk")("advice.air_raid")
