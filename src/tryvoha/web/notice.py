"""What a notification says: the words a browser shows for one event, in the
subscriber's language, made by the same rules and catalogues as the pages.

A declared or updated alert says where, which threat and at what level, what is coming
(the threat kinds), the issuer's message, and what to do (the shelter instruction, from
`advice_keys`, as on the region page). A cleared one says the all-clear. The notice is
JSON, small enough for a push message (browsers take about 4 KB): a long message is cut.
Each carries the event's id (`<epoch>:<seq>`): a browser that is sent an event twice
(after a crash, before its delivery was recorded) recognises the repeat by it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from tryvoha import i18n
from tryvoha.domain.alerts import AlertLevel
from tryvoha.domain.events import Event, EventType
from tryvoha.domain.regions import RegionTree
from tryvoha.web.names import region_names
from tryvoha.web.present import KIND_ORDER, Colouring, advice_keys, message_text

MAX_NOTICE_BYTES = 3000  # of JSON: a push message's plaintext may be at most 3993 bytes
ELLIPSIS = "…"


def notice(event: Event, lang: str, tree: RegionTree, epoch: str, now: datetime) -> bytes:
    """The notification for `event`, as the JSON the service worker shows."""
    t = i18n.catalogue(lang)
    alert = event.alert
    name = region_names()[alert.region_id].full(lang)
    threat = t(f"threat.{alert.threat.value}")
    cleared = event.type is EventType.CLEARED
    head: list[str] = []
    advice: list[str] = []
    message = None
    if cleared:
        title = t("region.notify_title_clear", name=name)
        head.append(t("push.cleared", threat=threat))
    else:
        yellow = alert.level is AlertLevel.YELLOW
        title = t("push.title_yellow" if yellow else "region.notify_title_alert", name=name)
        head.append(f"{threat} · {t('level.yellow_short')}" if yellow else threat)
        kinds = {th.kind for th in alert.threats}
        if kinds:
            head.append(", ".join(t(f"kind.{k.value}") for k in KIND_ORDER if k in kinds))
        look = Colouring(tree, [alert], now).of(alert.region_id)
        advice = [t(key) for key in advice_keys(look, [alert])]
        message = message_text(alert, lang)
    data: dict[str, Any] = {
        "v": 1,
        "id": f"{epoch}:{event.seq}",
        "seq": event.seq,
        "type": event.type.value,
        "alert_id": alert.id,
        "region_id": alert.region_id,
        "threat": alert.threat.value,
        "level": alert.level.value,
        "at": event.at.isoformat().replace("+00:00", "Z"),
        "lang": lang,
        "title": title,
        "body": "\n".join([*head, *advice]),
        "tag": alert.id,  # a later event of the same alert replaces its notification
        "url": f"/region/{alert.region_id}",
        "urgent": not cleared and alert.level is AlertLevel.RED,
    }
    if message:
        room = MAX_NOTICE_BYTES - len(orjson.dumps(data)) - 2  # 2: the newline, escaped
        data["body"] = "\n".join([*head, fit(message, room), *advice])
    return orjson.dumps(data)


def fit(text: str, room: int) -> str:
    """`text`, or its longest beginning that with an ellipsis takes at most `room` bytes
    as a JSON string."""

    def size(s: str) -> int:
        return len(orjson.dumps(s)) - 2

    if size(text) <= room:
        return text
    low, high = 0, len(text)  # the longest prefix that fits is text[:low]
    while low < high:
        middle = (low + high + 1) // 2
        if size(text[:middle].rstrip() + ELLIPSIS) <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS if low else ""
