"""Is this process ready for traffic (/readyz, and `tryvoha_ready` in /metrics)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tryvoha.server.services import Services

PROBE_SECONDS = 1.0


@dataclass
class Readiness:
    """A process's readiness, the writer's store probe remembered for PROBE_SECONDS."""

    probed_at: float = -PROBE_SECONDS
    writable: bool = False
    why: str = ""

    async def check(self, svc: Services) -> tuple[bool, str]:
        state = svc.bus.state()
        if svc.settings.role.writes:
            return await self._writable(svc)
        if not state.caught_up:
            return False, "catching up with the log"
        if not (state.connected or state.store_ok):
            return False, "hears of new events neither from NATS nor from the store"
        return True, "caught up, following the log"

    async def _writable(self, svc: Services) -> tuple[bool, str]:
        now = time.monotonic()
        if now - self.probed_at >= PROBE_SECONDS:
            self.probed_at = now
            try:
                self.writable = await svc.store.writable()
                self.why = "" if self.writable else "the store takes no writes (read-only)"
            except Exception as e:
                self.writable, self.why = False, f"the store does not answer ({type(e).__name__})"
        return self.writable, "the store takes writes" if self.writable else self.why
