"""The compatible answers are built once per seq, and their Last-Modified follows live
changes only: an imported 2022 alert does not move it back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import LVIV
from tests.protocol.test_compat_alerts_in_ua import T0, alert
from tryvoha.data import compat_locations, region_tree
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.projection import Projection
from tryvoha.engine.feed import Feed
from tryvoha.protocol.wire import encode_event
from tryvoha.server.compat_views import CompatViews

pytestmark = pytest.mark.anyio


async def test_views_follow_the_seq_and_live_changes() -> None:
    feed = Feed(Projection())
    views = CompatViews(feed, region_tree(), compat_locations(), "e")
    quiet = views.aiu_by_oblast(1)
    assert views.aiu_by_oblast(1) is quiet  # built once for this seq

    live = Event(Seq(1), EventType.DECLARED, T0, "duty", alert(LVIV, 1))
    feed.ingest([(live, encode_event(live))])
    declared = views.aiu_by_oblast(1)
    assert declared is not quiet and declared.etag != quiet.etag
    assert declared.changed_at == T0 and declared.body.count(b"A") == 1

    old = T0 - timedelta(days=700)
    imported = alert(region_tree().get("UA80000000000093317").id, 2, started_at=old, updated_at=old)
    events = [
        Event(Seq(2), EventType.DECLARED, old, "history:official", imported),
        Event(
            Seq(3),
            EventType.CLEARED,
            old + timedelta(hours=1),
            "history:official",
            alert(imported.region_id, 2, started_at=old, ended_at=old + timedelta(hours=1)),
        ),
    ]
    feed.ingest([(e, encode_event(e)) for e in events])
    after = views.aiu_by_oblast(1)
    assert after.seq == 3 and after.body == declared.body
    assert after.changed_at == T0  # the import changed no current state, nor the date
    assert views.changes.of_place(region_tree(), LVIV) == T0
    assert (
        views.changes.of_place(region_tree(), region_tree().get("UA32000000000030281").id) is None
    )
