"""Web Push bookkeeping, with no I/O: each subscription's notices in seq order, one in
flight at a time, and what the store must record so that a restart resumes exactly.

A subscription is a *lane*. A notice that cannot be sent yet (its push service said 429
or 5xx) holds its lane: the lane's later notices wait behind it (in order), while every
other lane goes on. What is recorded, in the shared `cursors` table:

- `push`: the channel's cursor. Every event up to it is done for every subscription:
  sent, given up, or of no concern to it. It is the lowest of "read so far" and, for each
  lane with notices waiting, the seq just before its first.
- `push:<id>`: a subscription's own, only when it is ahead of `push` (it was given
  events that a lane behind it holds the channel's cursor under). Once `push` passes it,
  it need not be written again.

After a restart, events after `push` are read again and a subscription is given only
those after max(`push`, `push:<id>`, the seq it subscribed at): nothing twice that was
recorded, nothing lost.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from tryvoha.domain.events import Seq
from tryvoha.store.base import PushSubscription

CHANNEL_CURSOR = "push"
PREFIX = "push:"


def cursor_name(sub_id: str) -> str:
    return PREFIX + sub_id


@dataclass(slots=True)
class Notice:
    seq: Seq
    body: bytes  # the notice's JSON, before encryption
    urgent: bool
    tries: int = 0
    first_try: float | None = None  # monotonic seconds


@dataclass(slots=True)
class Lane:
    sub: PushSubscription
    notices: deque[Notice] = field(default_factory=deque)
    busy: bool = False  # its first notice is being sent, or waits to be tried again


class Lanes:
    def __init__(self, cursor: Seq, positions: dict[str, Seq]) -> None:
        self.read = cursor  # every event up to here has been put in lanes
        self.recorded = cursor  # the channel's cursor as the store has it
        self.positions = positions  # per subscription: the last seq it was given
        self.lanes: dict[str, Lane] = {}
        self.ready: deque[str] = deque()  # lanes with a notice to send, not busy
        self.queued = 0  # notices in every lane
        self._changed: set[str] = set()

    def wants(self, sub: PushSubscription, seq: Seq) -> bool:
        """Whether `sub` is still to be given event `seq`."""
        return seq > max(self.recorded, self.positions.get(sub.id, 0), sub.since_seq)

    def add(self, sub: PushSubscription, notice: Notice) -> None:
        lane = self.lanes.get(sub.id)
        if lane is None:
            lane = self.lanes[sub.id] = Lane(sub)
        else:
            lane.sub = sub  # the newest keys and endpoint
        lane.notices.append(notice)
        self.queued += 1
        if len(lane.notices) == 1 and not lane.busy:
            self.ready.append(sub.id)

    def read_upto(self, seq: Seq) -> None:
        self.read = max(self.read, seq)

    def take(self) -> tuple[PushSubscription, Notice] | None:
        """The next notice to send (its lane is busy until `done` or `again`)."""
        while self.ready:
            lane = self.lanes.get(self.ready.popleft())
            if lane is not None and lane.notices and not lane.busy:
                lane.busy = True
                return lane.sub, lane.notices[0]
        return None

    def done(self, sub_id: str) -> None:
        """Its first notice was sent (or given up): the lane moves on."""
        lane = self.lanes.get(sub_id)
        if lane is None:
            return
        notice = lane.notices.popleft()
        self.queued -= 1
        self.positions[sub_id] = notice.seq
        self._changed.add(sub_id)
        lane.busy = False
        if lane.notices:
            self.ready.append(sub_id)
        else:
            del self.lanes[sub_id]

    def again(self, sub_id: str) -> None:
        """Its first notice is to be tried again now."""
        lane = self.lanes.get(sub_id)
        if lane is not None and lane.busy:
            lane.busy = False
            self.ready.append(sub_id)

    def forget(self, sub_id: str) -> None:
        """The subscription is gone (its push service said so): its notices too."""
        lane = self.lanes.pop(sub_id, None)
        if lane is not None:
            self.queued -= len(lane.notices)
        self.positions.pop(sub_id, None)
        self._changed.discard(sub_id)

    def done_upto(self) -> Seq:
        """The channel's cursor as it may be recorded now."""
        waiting = [lane.notices[0].seq for lane in self.lanes.values() if lane.notices]
        return Seq(min([self.read, *(s - 1 for s in waiting)]))

    def moves(self) -> dict[str, Seq]:
        """What to record now (empty: nothing new); `recorded` once the store took it."""
        upto = self.done_upto()
        changed, self._changed = self._changed, set()
        moves = {
            cursor_name(s): self.positions[s]
            for s in changed
            if s in self.positions and self.positions[s] > upto
        }
        if upto > self.recorded:
            moves[CHANNEL_CURSOR] = upto
        return moves

    def recorded_upto(self, moves: dict[str, Seq]) -> None:
        """The store took `moves`: forget what the channel's cursor now covers."""
        upto = moves.get(CHANNEL_CURSOR)
        if upto is not None:
            self.recorded = upto
            self.positions = {s: p for s, p in self.positions.items() if p > upto}
