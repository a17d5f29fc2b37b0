"""The JSON form of statistics (the API's answers and `tryvoha stats --json`), and the
times people write for a period."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from tryvoha.domain.history import Span
from tryvoha.domain.stats import Episode, RegionStats
from tryvoha.protocol.wire import format_time

JSON = dict[str, Any]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_moment(text: str, tz: tzinfo) -> datetime:
    """`2024-11-13` is that day's midnight in tz; otherwise RFC 3339 with an offset
    (`2024-11-13T05:00:00Z`, `2024-11-13T07:00+02:00`). In UTC; ValueError says what is
    wrong."""
    text = text.strip()
    if _DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as e:
            raise ValueError(f"'{text}' is not a date: {e}") from None
        return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"'{text}' is neither a date (2024-11-13) nor an RFC 3339 time (2024-11-13T05:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"'{text}' has no UTC offset: add Z or +02:00, or give a date")
    return moment.astimezone(UTC)


def _seconds(value: float) -> float:
    return round(value, 3)


def stats_to_json(stats: RegionStats, tz_name: str) -> JSON:
    data: JSON = {
        "region_id": stats.region_id,
        "since": format_time(stats.since),
        "until": format_time(stats.until),
        "count": stats.count,
        "total_seconds": _seconds(stats.total_seconds),
        "share": round(stats.share, 6),
        "longest_seconds": _seconds(stats.longest_seconds),
        "tz": tz_name,
        "by": None if stats.by is None else stats.by.value,
        "series": [
            {
                "bucket": b.key,
                "count": b.count,
                "seconds": _seconds(b.seconds),
                "share": round(b.share, 6),
            }
            for b in stats.series
        ],
    }
    return data


def history_to_json(spans: Sequence[Span], since: datetime, until: datetime) -> list[JSON]:
    """The historical records the numbers of [since, until) draw on, and what they mean."""
    return [
        {
            "issuer": span.source.issuer,
            "from": format_time(span.start),
            "until": format_time(span.end),
            "meaning": span.source.meaning,
        }
        for span in spans
        if span.start < until and span.end > since
    ]


def summary_to_json(stats: RegionStats) -> JSON:
    return {
        "region_id": stats.region_id,
        "count": stats.count,
        "total_seconds": _seconds(stats.total_seconds),
        "share": round(stats.share, 6),
        "longest_seconds": _seconds(stats.longest_seconds),
    }


def summaries_to_json(found: Sequence[RegionStats], since: datetime, until: datetime) -> JSON:
    return {
        "since": format_time(since),
        "until": format_time(until),
        "regions": [summary_to_json(s) for s in found],
    }


def episode_to_json(episode: Episode) -> JSON:
    return {
        "started_at": format_time(episode.started_at),
        "ended_at": format_time(episode.ended_at),
        "seconds": _seconds(episode.seconds),
        "peak": episode.peak,
        "peak_at": format_time(episode.peak_at),
        "oblasts": list(episode.oblasts),
    }


def episodes_to_json(
    found: Sequence[Episode],
    since: datetime,
    until: datetime,
    min_oblasts: int,
    partial: bool,
) -> JSON:
    return {
        "since": format_time(since),
        "until": format_time(until),
        "min_oblasts": min_oblasts,
        "partial": partial,
        "count": len(found),
        "total_seconds": _seconds(sum(e.seconds for e in found)),
        "episodes": [episode_to_json(e) for e in found],
    }
