"""The bus: how a process learns of events other processes committed.

A process ingests its own commits at once; the bus brings everyone else's, in order, from
the seq the process has reached. The in-process bus polls the store; the hub relays
between the processes of one box; NATS JetStream will relay between boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tryvoha.domain.events import Seq
from tryvoha.store.base import Committed


class Receiver(Protocol):
    """The process side: where the bus delivers."""

    @property
    def seq(self) -> Seq: ...

    def deliver(self, raws: Sequence[bytes]) -> None:
        """Encoded events, in order; a gap makes the receiver catch up from the store."""

    async def catch_up(self) -> int:
        """Read whatever the store has after `seq`."""


class Bus(Protocol):
    async def start(self, receiver: Receiver) -> None: ...

    async def published(self, committed: Sequence[Committed]) -> None:
        """This process committed these events (it has ingested them already)."""

    async def close(self) -> None: ...
