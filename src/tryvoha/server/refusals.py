"""Connections refused or dropped at the front door, counted by reason and logged at a rate
that cannot flood the log: one line per interval that saw any, however many there were."""

from __future__ import annotations

import logging
from collections import Counter

log = logging.getLogger("tryvoha.front")

LOG_SECONDS = 10.0

REASONS = {
    "malformed": "requests that are not valid HTTP",
    "too_large": "heads or bodies over the limit",
    "timeout": "heads or bodies past their deadline",
    "invalid": "stream requests with bad parameters",
    "stalled": "subscribers that took nothing while events waited",
    "over_queue": "connections with too many unsent bytes",
    "rate_limited": "requests over a client's or a token's rate",
    "too_many_streams": "streams over a client's cap",
    "denied_unaudited": "refused writes past the audit's own rate (counted, not written)",
}


class Refusals:
    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self._since_log: Counter[str] = Counter()

    def note(self, reason: str) -> None:
        self.total[reason] += 1
        self._since_log[reason] += 1

    def flush(self) -> None:
        """Log what was refused since the last flush, if anything (called every LOG_SECONDS)."""
        if not self._since_log:
            return
        counts, self._since_log = self._since_log, Counter()
        shown = ", ".join(f"{reason} {n:,}" for reason, n in counts.most_common())
        log.warning("refused or dropped in the last %g s: %s", LOG_SECONDS, shown)
