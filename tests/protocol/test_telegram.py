"""Telegram texts, on their own: grouping, the posts' words in both languages, the limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import KYIV_CITY, KYIV_OBLAST, LVIV
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
from tryvoha.domain.regions import Level, RegionId, RegionTree
from tryvoha.protocol.telegram import (
    MAX_NAMED,
    MESSAGE_CHARS,
    ChannelSpec,
    Wording,
    compose,
    group_events,
    group_text,
    parse_channel,
    split_channels,
)
from tryvoha.web.names import display_name

AT = datetime(2024, 11, 13, 5, 12, tzinfo=UTC)  # 07:12 in Kyiv
UK = i18n.catalogue("uk")
EN = i18n.catalogue("en")


@pytest.fixture(scope="module")
def wording(tree: RegionTree) -> Wording:
    return Wording(tree, display_name)


def alert(
    region: RegionId,
    *,
    level: AlertLevel = AlertLevel.RED,
    threat: ThreatType = ThreatType.AIR_RAID,
    kinds: tuple[ThreatKind, ...] = (),
    message: Message | None = None,
    started: datetime = AT,
    ended: datetime | None = None,
) -> Alert:
    return Alert(
        AlertId(f"a-{region}"),
        region,
        threat,
        level,
        tuple(Threat(k, started) for k in kinds),
        message,
        started,
        ended or started,
        ended,
        "kyiv-duty",
    )


def declared(seq: int, a: Alert, at: datetime = AT) -> Event:
    return Event(Seq(seq), EventType.DECLARED, at, "kyiv-duty", a)


def cleared(seq: int, a: Alert, at: datetime) -> Event:
    done = Alert(
        a.id, a.region_id, a.threat, a.level, a.threats, a.message, a.started_at, at, at, a.issuer
    )
    return Event(Seq(seq), EventType.CLEARED, at, "kyiv-duty", done)


def oblasts(tree: RegionTree) -> list[RegionId]:
    return [r.id for r in tree.at_level(Level.OBLAST)]


def test_one_region_red_with_threats_and_message(wording: Wording) -> None:
    kinds = (ThreatKind.DRONES, ThreatKind.BALLISTIC_MISSILES)
    said = Message("Тривога! Прямуйте в укриття.", "Air raid! Go to a shelter.")
    [group] = group_events([declared(1, alert(KYIV_CITY, kinds=kinds, message=said))])
    assert group_text(group, UK, wording) == (
        "🔴 Повітряна тривога: м. Київ\n"
        "Оголошено о 07:12\n"
        "Загрози: Балістичні ракети, Ударні БпЛА.\n"
        "Тривога! Прямуйте в укриття."
    )
    assert group_text(group, EN, wording) == (
        "🔴 Air raid alert: Kyiv City\n"
        "Declared at 07:12\n"
        "Threats: Ballistic missiles, Attack drones.\n"
        "Air raid! Go to a shelter."
    )


def test_yellow_and_other_threat_types(wording: Wording) -> None:
    [yellow] = group_events([declared(1, alert(LVIV, level=AlertLevel.YELLOW))])
    assert group_text(yellow, UK, wording).startswith(
        "🟡 Повітряна тривога, жовтий рівень: Львівська область\n"
    )
    shelling = alert(KYIV_OBLAST, threat=ThreatType.ARTILLERY_SHELLING)
    [group] = group_events([cleared(2, shelling, AT + timedelta(minutes=40))])
    assert group_text(group, UK, wording) == (
        "🟢 Відбій: Київська область (Загроза артобстрілу)\nВідбій о 07:52, тривала 40 хв"
    )


def test_a_clear_says_how_long_it_lasted(wording: Wording) -> None:
    end = AT + timedelta(hours=1, minutes=5)
    [group] = group_events([cleared(7, alert(KYIV_CITY), end)])
    assert group_text(group, UK, wording) == (
        "🟢 Відбій тривоги: м. Київ\nВідбій о 08:17, тривала 1 год 05 хв"
    )
    assert group_text(group, EN, wording) == (
        "🟢 All clear: Kyiv City\nAll clear at 08:17, lasted 1 h 05 min"
    )


def test_a_nationwide_declare_is_one_post_for_the_whole_country(
    tree: RegionTree, wording: Wording
) -> None:
    kinds = (ThreatKind.BALLISTIC_MISSILES,)
    events = [declared(i, alert(r, kinds=kinds)) for i, r in enumerate(oblasts(tree), 1)]
    [group] = group_events(events)
    assert group.last_seq == 27
    assert group_text(group, UK, wording) == (
        "🔴 Повітряна тривога: вся Україна\n"
        "27 областей\n"
        "Оголошено о 07:12\n"
        "Загрози: Балістичні ракети."
    )
    assert group_text(group, EN, wording).splitlines()[:2] == [
        "🔴 Air raid alert: all of Ukraine",
        "27 oblasts",
    ]


def test_the_whole_country_counts_the_oblasts_already_under_alert(
    tree: RegionTree, wording: Wording
) -> None:
    """Luhansk and Crimea have been under alert since 2022: a nationwide declare names the
    other 25, and is still "вся Україна"."""
    standing = frozenset(oblasts(tree)[:2])
    rest = [r for r in oblasts(tree) if r not in standing]
    [group] = group_events([declared(i, alert(r)) for i, r in enumerate(rest, 1)])
    lines = group_text(group, UK, wording, already=standing).splitlines()
    assert lines[:2] == [
        "🔴 Повітряна тривога: вся Україна",
        "25 областей, ще в 2 тривога вже триває",
    ]
    # without them it is 25 oblasts, named
    lines = group_text(group, UK, wording).splitlines()
    assert lines[0] == "🔴 Повітряна тривога: 25 областей"
    assert lines[1].count(",") == 24


def test_a_joint_clear_is_one_post_with_the_duration(tree: RegionTree, wording: Wording) -> None:
    end = AT + timedelta(hours=2, minutes=30)
    events = [cleared(i, alert(r), end) for i, r in enumerate(oblasts(tree), 100)]
    [group] = group_events(events)
    assert group_text(group, UK, wording) == (
        "🟢 Відбій тривоги: вся Україна\n27 областей\nВідбій о 09:42, тривала 2 год 30 хв"
    )


def test_a_joint_clear_of_alerts_that_began_apart_lists_each_duration(wording: Wording) -> None:
    end = AT + timedelta(hours=1)
    events = [
        cleared(5, alert(LVIV), end),
        cleared(6, alert(KYIV_CITY, started=AT + timedelta(minutes=30)), end),
    ]
    [group] = group_events(events)
    assert group_text(group, UK, wording) == (
        "🟢 Відбій тривоги: 2 області\n"
        "Львівська область — 1 год 00 хв\n"
        "м. Київ — 30 хв\n"
        "Відбій о 08:12"
    )


def test_events_of_different_requests_are_different_posts(wording: Wording) -> None:
    later = AT + timedelta(seconds=30)
    events = [
        declared(1, alert(LVIV)),
        declared(2, alert(KYIV_CITY)),  # the same request: same time, issuer, everything
        declared(3, alert(KYIV_OBLAST), at=later),  # another request
        declared(4, alert(RegionId("UA63000000000041885"), level=AlertLevel.YELLOW), at=later),
        cleared(5, alert(LVIV), later),
    ]
    groups = group_events(events)
    assert [[e.seq for e in g.events] for g in groups] == [[1, 2], [3], [4], [5]]
    assert group_text(groups[0], UK, wording).splitlines()[:2] == [
        "🔴 Повітряна тривога: 2 області",
        "Львівська область, м. Київ",
    ]


def test_many_regions_are_named_up_to_a_limit(tree: RegionTree, wording: Wording) -> None:
    hromadas = [r.id for r in tree.at_level(Level.HROMADA)][: MAX_NAMED + 12]
    [group] = group_events([declared(i, alert(r)) for i, r in enumerate(hromadas, 1)])
    lines = group_text(group, UK, wording).splitlines()
    assert lines[0] == f"🔴 Повітряна тривога: {MAX_NAMED + 12} громади"
    assert lines[1].endswith(" та ще 12")
    assert lines[1].count(", ") == MAX_NAMED - 1


def test_compose_fits_telegrams_limit_and_says_how_many_it_holds() -> None:
    texts = ["a" * 2000, "b" * 2000, "c" * 100]
    message, count = compose(texts)
    assert count == 2
    assert message == "a" * 2000 + "\n\n" + "b" * 2000
    assert compose(texts[2:]) == ("c" * 100, 1)
    too_long, count = compose(["x" * (MESSAGE_CHARS + 10)])
    assert count == 1
    assert len(too_long) == MESSAGE_CHARS
    assert too_long.endswith("…")


def test_channel_settings(tree: RegionTree) -> None:
    assert parse_channel("@ua_alerts", tree) == ChannelSpec("@ua_alerts")
    spec = parse_channel(" @kyiv_alerts:en = Kyiv , Lviv ", tree)
    assert spec == ChannelSpec("@kyiv_alerts", "en", (KYIV_CITY, LVIV))
    assert str(spec) == f"@kyiv_alerts:en={KYIV_CITY},{LVIV}"
    numeric = parse_channel("-1001234567890=Lviv", tree)
    assert numeric.chat_id == -1001234567890
    assert numeric.cursor == "telegram:channel:-1001234567890"
    for bad, why in [
        ("kyiv_alerts", "is not a channel"),
        ("@ab", "is not a channel"),
        ("@kyiv_alerts:de", "not a language"),
        ("@kyiv_alerts=Atlantis", "Atlantis"),
        ("@kyiv_alerts=Kyiv,", "empty region"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_channel(bad, tree)
    assert split_channels("@a_chan; @b_chan=Lviv Oblast\n-100123") == [
        "@a_chan",
        "@b_chan=Lviv Oblast",
        "-100123",
    ]
