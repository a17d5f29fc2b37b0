"""Percentiles by nearest rank, over every sample (no interpolation, no sampling)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

INF = math.inf


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of values already sorted; inf when there are none."""
    if not sorted_values:
        return INF
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(latencies_ms: Sequence[float], population: int) -> dict[str, float]:
    """p50/p99/max over `population` subscribers; those that never got their events
    count as infinitely late, so a lost subscriber shows instead of hiding."""
    values = sorted(latencies_ms)
    values += [INF] * max(0, population - len(values))
    return {
        "min": values[0] if values else INF,
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "p999": percentile(values, 99.9),
        "max": values[-1] if values else INF,
    }


def median(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None]
    return statistics.median(finite) if finite else INF


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or theirs is None or theirs == 0 or math.isinf(theirs) or math.isnan(theirs):
        return None
    if math.isinf(ours):
        return INF
    return ours / theirs


def finite_or_none(value: float | None) -> float | None:
    """JSON has no infinity: an unreached value is written as null."""
    if value is None or math.isinf(value) or math.isnan(value):
        return None
    return value
