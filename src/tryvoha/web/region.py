"""A region page's model: its look and one-word state, every threat type there with what
is coming and what to do, its children and its history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tryvoha import i18n
from tryvoha.domain.alerts import Alert, ThreatType
from tryvoha.domain.events import is_consolidated
from tryvoha.domain.regions import Region, RegionTree
from tryvoha.i18n.formats import duration_text, local_time, since_text
from tryvoha.web.names import region_names
from tryvoha.web.present import (
    KIND_ORDER,
    THREAT_ORDER,
    Colouring,
    advice_keys,
    message_text,
)


def threat_lines(alerts: Sequence[Alert], t: i18n.Catalogue, now: datetime) -> list[dict[str, Any]]:
    """One line per threat type under alert here: its level, since when, what is coming,
    and the issuers' messages (static/js/place.js draws the same)."""
    lines = []
    for threat in THREAT_ORDER:
        of_type = [a for a in alerts if a.threat is threat]
        if not of_type:
            continue
        kinds = {th.kind for a in of_type for th in a.threats}
        messages = [m for a in of_type if (m := message_text(a, t.lang))]
        lines.append(
            {
                "threat": threat.value,
                "level": "red" if any(a.level.value == "red" for a in of_type) else "yellow",
                "since": since_text(min(a.started_at for a in of_type), now),
                "kinds": [k.value for k in KIND_ORDER if k in kinds],
                "messages": list(dict.fromkeys(messages)),
            }
        )
    return lines


def region_view(
    tree: RegionTree, region: Region, colouring: Colouring, t: i18n.Catalogue, now: datetime
) -> dict[str, Any]:
    names = region_names()
    look = colouring.of(region.id)
    state, alerts = colouring.alerts_for(region.id)
    oblast = tree.oblast_of(region.id)
    detail = ""
    if look.state == "alert":
        detail = t("region.alert_since", time=since_text(min(a.started_at for a in alerts), now))
    elif look.state == "partial" and look.vague:
        shown = names[oblast].full(t.lang) if oblast else names[region.id].full(t.lang)
        detail = t("region.somewhere_detail", name=shown)
    elif look.state == "partial":
        below = {a.region_id for a in alerts if a.region_id != region.id}
        detail = t("region.partial_detail", n=len(below))
    return {
        "id": region.id,
        "name": names[region.id].full(t.lang),
        "kind": names[region.id].kind,
        "level": region.level.value,
        "where": names[oblast].full(t.lang) if oblast and oblast != region.id else "",
        "state": look,
        "state_word": t(look.word_key),
        "state_detail": detail,
        "threats": threat_lines(alerts, t, now) if state == "alert" else [],
        "advice": [t(k) for k in advice_keys(look, alerts)],
    }


def threat_states(
    tree: RegionTree, region: Region, related: Sequence[Alert], now: datetime
) -> list[dict[str, str]]:
    """Per threat type, how the region looks under that type's alerts alone."""
    out = []
    for threat in ThreatType:
        look = Colouring(tree, [a for a in related if a.threat is threat], now).of(region.id)
        out.append({"for": threat.value, **look.data()})
    return out


def children_view(
    tree: RegionTree, region: Region, colouring: Colouring, lang: str
) -> list[dict[str, Any]]:
    names = region_names()
    kids = [
        {"id": c, "name": names[c].full(lang), "state": colouring.of(c)}
        for c in tree.children(region.id)
    ]
    return sorted(kids, key=lambda k: k["name"])


def history_row(alert: Alert, region: Region, t: i18n.Catalogue, now: datetime) -> dict[str, Any]:
    end = alert.ended_at
    seconds = ((end or now) - alert.started_at).total_seconds()
    duration = (
        duration_text(t, seconds) if end else t("history.ongoing", d=duration_text(t, seconds))
    )
    return {
        "region_id": alert.region_id,
        "region": region_names()[alert.region_id].full(t.lang),
        "threat": alert.threat.value,
        "level": alert.level.value,
        "started": local_time(alert.started_at).strftime("%d.%m.%Y %H:%M"),
        "started_iso": alert.started_at.isoformat(),
        "duration": duration,
        # an oblast-level record seen from a raion or hromada: it does not say "here"
        "vague": is_consolidated(alert.issuer) and alert.region_id != region.id,
        "consolidated": is_consolidated(alert.issuer),
    }
