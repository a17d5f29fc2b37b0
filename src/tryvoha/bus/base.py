"""The bus: how a process learns of events other processes committed.

A process ingests its own commits at once; the bus brings everyone else's, in order, from
the seq the process has reached. The in-process bus polls the store; the hub relays
between the processes of one box; NATS JetStream relays between boxes (`bus/nats.py`).
Whatever the bus, the store is the truth: a gap in what the bus brings is read from it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

from tryvoha.domain.events import Seq
from tryvoha.store.base import Committed

_SEQ = re.compile(rb'\{"seq":(\d+)')


def seq_of(raw: bytes) -> Seq:
    """The seq of an encoded event (its JSON begins with it: `protocol.wire`)."""
    found = _SEQ.match(raw)
    return Seq(int(found.group(1)) if found else orjson.loads(raw)["seq"])


@dataclass(frozen=True, slots=True)
class BusState:
    """What /readyz, /metrics and /api/v1/health tell of the bus."""

    kind: str  # local, hub or nats
    connected: bool  # hears of other processes' commits as they happen
    caught_up: bool  # has read the log to its end at least once since it started
    heard: Seq = Seq(0)  # the newest seq the bus has brought
    published: Seq | None = None  # a publishing process: the newest seq the bus confirmed
    unpublished: int = 0  # committed here, not yet confirmed by the bus
    store_ok: bool = True  # the last read of the store (to fill gaps, to poll) succeeded


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

    def state(self) -> BusState: ...
