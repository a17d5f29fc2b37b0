"""API v1 statistics: one region over a period, every oblast at once, nationwide episodes.

Buckets are local time in `tz` (Europe/Kyiv unless asked otherwise): an hour-of-day chart
for Kyiv should show the night raids at night. Times in answers are UTC, as everywhere.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.errors import DomainError
from tryvoha.domain.history import Span
from tryvoha.domain.stats import By
from tryvoha.engine.history import covered_spans
from tryvoha.engine.statistics import (
    DEFAULT_DAYS,
    DEFAULT_TZ,
    Period,
    PeriodError,
    choose_period,
    nationwide_episodes,
    oblast_stats,
    stats_for,
)
from tryvoha.protocol.stats_json import (
    episodes_to_json,
    history_to_json,
    stats_to_json,
    summaries_to_json,
)
from tryvoha.server.api_v1 import json_response, services
from tryvoha.server.problems import Problem, from_domain

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])

DEFAULT_MIN_OBLASTS = 20
CACHE = {"Cache-Control": "public, max-age=60"}

SinceQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        description="start (inclusive): a date (midnight in tz) or RFC 3339; "
        f"default {DEFAULT_DAYS} days before until",
    ),
]
UntilQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        description="end (exclusive): a date (midnight in tz) or RFC 3339; default now",
    ),
]
TzQuery = Annotated[
    str, Query(max_length=64, description="IANA time zone of the buckets and of plain dates")
]
ThreatQuery = Annotated[ThreatType, Query(description="which alerts count")]


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        "invalid_parameter", f"{field}: {message}", errors=[{"field": field, "message": message}]
    )


def period(
    request: Request,
    since: str | None,
    until: str | None,
    tz: str,
    threat: ThreatType,
    by: By | None = None,
) -> Period:
    now = services(request).engine.clock()
    try:
        return choose_period(since, until, now=now, tz=tz, threat=threat, by=by)
    except PeriodError as e:
        raise _invalid(e.field, e.message) from None


async def history_spans(request: Request) -> list[Span]:
    """What each imported historical record covers; read again only when the log grew."""
    svc = services(request)
    cached: tuple[int, list[Span]] | None = getattr(request.app.state, "history_spans", None)
    if cached is None or cached[0] != svc.engine.seq:
        cached = (svc.engine.seq, await covered_spans(svc.store))
        request.app.state.history_spans = cached
    return cached[1]


@router.get("", summary="How often, how long and when a region was under alert")
async def region_stats(
    request: Request,
    region: Annotated[str, Query(max_length=64, description="region id or unique name")],
    since: SinceQuery = None,
    until: UntilQuery = None,
    by: Annotated[By | None, Query(description="a series by day, month, hour or weekday")] = None,
    tz: TzQuery = DEFAULT_TZ,
    threat: ThreatQuery = ThreatType.AIR_RAID,
) -> Response:
    """A region is under alert whenever it or a region above it has an active alert;
    overlapping alerts are one period. `count` is the periods that began in [since,
    until); `total_seconds` the time under alert in it; `share` that over its length;
    `longest_seconds` the longest unbroken time under alert in it. A series bucket counts
    the periods that began in it and the seconds it covers. `history` names the imported
    historical records the period draws on and what they mean (see docs/history.md)."""
    svc = services(request)
    try:
        region_id = svc.tree.resolve(region).id
    except DomainError as e:
        raise from_domain(e) from None
    chosen = period(request, since, until, tz, threat, by)
    found = await stats_for(svc.store, svc.tree, region_id, chosen, by)
    body = stats_to_json(found, tz)
    body["history"] = history_to_json(await history_spans(request), found.since, found.until)
    return json_response(body, headers=CACHE)


@router.get("/oblasts", summary="The same numbers for every oblast-level unit at once")
async def every_oblast(
    request: Request,
    since: SinceQuery = None,
    until: UntilQuery = None,
    tz: TzQuery = DEFAULT_TZ,
    threat: ThreatQuery = ThreatType.AIR_RAID,
) -> Response:
    svc = services(request)
    chosen = period(request, since, until, tz, threat)
    found = await oblast_stats(svc.store, svc.tree, chosen)
    end = min(chosen.until, chosen.now)
    body = summaries_to_json(found, chosen.since, end)
    body["history"] = history_to_json(await history_spans(request), chosen.since, end)
    return json_response(body, headers=CACHE)


@router.get("/episodes", summary="Times when at least N oblasts were under alert at once")
async def episodes(
    request: Request,
    min_oblasts: Annotated[
        int, Query(ge=1, le=27, description="how many oblast-level units at once")
    ] = DEFAULT_MIN_OBLASTS,
    partial: Annotated[
        bool,
        Query(description="count an oblast while any region inside it is under alert"),
    ] = False,
    since: SinceQuery = None,
    until: UntilQuery = None,
    tz: TzQuery = DEFAULT_TZ,
    threat: ThreatQuery = ThreatType.AIR_RAID,
) -> Response:
    svc = services(request)
    chosen = period(request, since, until, tz, threat)
    found = await nationwide_episodes(svc.store, svc.tree, chosen, min_oblasts, partial)
    body = episodes_to_json(
        found, chosen.since, min(chosen.until, chosen.now), min_oblasts, partial
    )
    return json_response(body, headers=CACHE)
