"""The NATS JetStream bus against a real nats-server (started here, on a free port) and a
real store: what a writer publishes and when, and how an edge follows, fills gaps and
survives NATS going away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError

from tests.conftest import LVIV
from tests.support.nats import NatsServer
from tests.support.server import timeout
from tryvoha.bus.base import seq_of
from tryvoha.bus.nats import MSG_ID, NatsBus
from tryvoha.data import region_tree
from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.commands import Declare
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import Level
from tryvoha.domain.scope import Principal, Role
from tryvoha.engine.auth import issue_token
from tryvoha.engine.engine import Engine
from tryvoha.protocol.wire import decode_event
from tryvoha.store import Store, open_store
from tryvoha.store.base import Committed

pytestmark = pytest.mark.anyio
STREAM = "test"
SUBJECT = f"{STREAM}.events"
NATIONAL = Principal("national", Role.ISSUER, (region_tree().get("UA").id,))
HROMADAS = [r.id for r in region_tree().at_level(Level.HROMADA)][:60]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'bus.db'}")
    await s.open()
    await issue_token(s, region_tree(), NATIONAL.name, NATIONAL.role, ["UA"])
    yield s
    await s.close()


class Node:
    """An engine and its bus, as one serving process holds them; `got` is every event its
    listeners were given, in the order given."""

    def __init__(self, engine: Engine, bus: NatsBus) -> None:
        self.engine = engine
        self.bus = bus
        self.got: list[Seq] = []
        engine.feed.listen(lambda batch: self.got.extend(e.seq for e, _ in batch))

    @classmethod
    async def start(cls, store: Store, server: NatsServer, *, writes: bool) -> Node:
        engine = await Engine.load(store, region_tree(), snapshots=writes)
        bus = NatsBus([server.url], STREAM, store, publish=writes)
        engine.after_commit.append(bus.published)
        await bus.start(engine)
        return cls(engine, bus)

    async def declare(self, count: int, start: int = 0) -> None:
        for region in HROMADAS[start : start + count]:
            await self.engine.execute(Declare((region,)), NATIONAL)


async def until(
    check: Callable[[], Awaitable[bool] | bool], what: str, seconds: float = 10
) -> None:
    deadline = time.monotonic() + timeout(seconds)
    while time.monotonic() < deadline:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


async def in_stream(url: str) -> list[tuple[int, bytes]]:
    """(Nats-Msg-Id, data) of every message the stream holds, in stream order."""
    nc = await nats.connect(url, max_reconnect_attempts=1)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(STREAM)
        except NotFoundError:
            return []
        found = []
        for n in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(STREAM, n)
            found.append((int((msg.headers or {})[MSG_ID]), msg.data or b""))
        return found
    finally:
        await nc.close()


def seqs(messages: Sequence[tuple[int, bytes]]) -> list[int]:
    return [seq for seq, _ in messages]


async def test_a_commit_is_published_with_its_seq_as_msg_id_and_a_republish_is_dropped(
    store: Store, nats_server: NatsServer
) -> None:
    writer = await Node.start(store, nats_server, writes=True)
    try:
        await until(lambda: writer.bus.caught_up, "the writer follows the stream")
        await writer.declare(3)
        log = await store.read_events(Seq(0), 100)
        await until(lambda: writer.bus.confirmed == 3, "the stream confirmed seq 3")
        assert await in_stream(nats_server.url) == [(seq_of(raw), raw) for raw in log]
        # the same events again (a writer that lost the acknowledgements, say): dropped
        committed = [Committed(decode_event(raw), raw) for raw in log]
        await writer.bus.published(committed)
        await until(lambda: not writer.bus.state().unpublished, "the re-publish is confirmed")
        assert seqs(await in_stream(nats_server.url)) == [1, 2, 3]
    finally:
        await writer.bus.close()


async def test_a_writer_that_starts_publishes_what_the_stream_lacks(
    store: Store, nats_server: NatsServer
) -> None:
    """A writer died between its commits and their publishing: the next one to start
    publishes the store's events past the stream's last."""
    first = await Node.start(store, nats_server, writes=True)
    await until(lambda: first.bus.caught_up, "the first writer follows the stream")
    await first.declare(2)
    await until(lambda: first.bus.confirmed == 2, "seq 2 confirmed")
    await first.bus.close()
    quiet = await Engine.load(store, region_tree())  # commits, publishes nothing
    for region in HROMADAS[2:5]:
        await quiet.execute(Declare((region,)), NATIONAL)
    second = await Node.start(store, nats_server, writes=True)
    try:
        await until(lambda: second.bus.confirmed == 5, "seq 5 confirmed")
        assert seqs(await in_stream(nats_server.url)) == [1, 2, 3, 4, 5]
    finally:
        await second.bus.close()


async def test_an_edge_fills_a_gap_from_the_store_and_never_skips_it(
    store: Store, nats_server: NatsServer
) -> None:
    writer = await Node.start(store, nats_server, writes=True)
    edge = await Node.start(store, nats_server, writes=False)
    try:
        await until(lambda: edge.bus.caught_up and writer.bus.caught_up, "both follow")
        await writer.declare(2)
        await until(lambda: edge.engine.seq == 2, "the edge has seq 2")
        # seq 3 and 4 reach the store but not the stream (lost); seq 5 comes by the stream
        quiet = await Engine.load(store, region_tree())
        for region in HROMADAS[2:4]:
            await quiet.execute(Declare((region,)), NATIONAL)
        started = time.monotonic()
        await writer.declare(1, start=4)
        await until(lambda: edge.engine.seq == 5, "the edge has seq 5")
        assert time.monotonic() - started < timeout(3), "filled at once, not by the slow poll"
        assert edge.got == [1, 2, 3, 4, 5]
        assert edge.engine.projection.active() == writer.engine.projection.active()
    finally:
        await edge.bus.close()
        await writer.bus.close()


async def test_writes_go_on_while_nats_is_down_and_are_published_when_it_returns(
    store: Store, nats_server: NatsServer
) -> None:
    writer = await Node.start(store, nats_server, writes=True)
    edge = await Node.start(store, nats_server, writes=False)
    try:
        await until(lambda: edge.bus.caught_up and writer.bus.caught_up, "both follow")
        await writer.declare(2)
        await until(lambda: writer.bus.confirmed == 2, "seq 2 confirmed")
        nats_server.kill()
        await until(lambda: not writer.bus.state().connected, "the writer knows NATS is gone")
        for n in range(2, 8):
            started = time.monotonic()
            await writer.declare(1, start=n)
            assert time.monotonic() - started < timeout(1), "a write never waits for NATS"
        assert writer.bus.state().unpublished == 6
        # meanwhile the edge reads the store (every second while NATS is away)
        await until(lambda: edge.engine.seq == 8, "the edge read seq 8 from the store", 5)
        nats_server.start()  # the same storage: seq 1 and 2 are still in the stream
        await until(lambda: writer.bus.confirmed == 8, "seq 3 to 8 published after the outage")
        assert seqs(await in_stream(nats_server.url)) == list(range(1, 9))
        await until(lambda: edge.bus.state().connected, "the edge follows the stream again")
        await writer.declare(1, start=8)
        await until(lambda: edge.engine.seq == 9, "seq 9 reaches the edge")
        assert edge.got == list(range(1, 10))
    finally:
        await edge.bus.close()
        await writer.bus.close()


async def test_a_stream_that_lost_its_messages_loses_no_event(
    store: Store, nats_server: NatsServer
) -> None:
    """NATS comes back without its storage (the stream starts again, empty) while a
    writer commits events nobody publishes: the edge ends with every one of them."""
    writer = await Node.start(store, nats_server, writes=True)
    edge = await Node.start(store, nats_server, writes=False)
    try:
        await until(lambda: edge.bus.caught_up and writer.bus.caught_up, "both follow")
        await writer.declare(3)
        await until(lambda: edge.engine.seq == 3, "the edge has seq 3")
        nats_server.kill()
        nats_server.forget()
        quiet = await Engine.load(store, region_tree())
        await quiet.execute(Declare((LVIV,), threat=ThreatType.CHEMICAL), NATIONAL)
        nats_server.start()
        await until(lambda: edge.bus.state().connected, "the edge follows again")
        await until(lambda: writer.bus.state().connected, "the writer is back")
        await writer.declare(2, start=3)
        await until(lambda: edge.engine.seq == 6, "the edge has seq 6")
        assert edge.got == [1, 2, 3, 4, 5, 6]
        assert edge.engine.projection.active() == writer.engine.projection.active()
        assert seqs(await in_stream(nats_server.url)) == [5, 6]  # what the new stream got
    finally:
        await edge.bus.close()
        await writer.bus.close()


async def test_two_writers_at_once_both_publish_and_an_edge_gets_every_event_once(
    store: Store, nats_server: NatsServer, tmp_path: Path
) -> None:
    """Two writers on one log (each its own connection, as on two machines) commit side
    by side; their publishes cross on the wire. The edge applies every seq once, in order."""
    other = open_store(f"sqlite:///{tmp_path / 'bus.db'}")
    await other.open()
    first = await Node.start(store, nats_server, writes=True)
    second = await Node.start(other, nats_server, writes=True)
    edge = await Node.start(store, nats_server, writes=False)
    try:
        await until(lambda: all(n.bus.caught_up for n in (first, second, edge)), "all follow")
        await asyncio.gather(first.declare(20), second.declare(20, start=20))
        await until(lambda: edge.engine.seq == 40, "the edge has seq 40")
        assert edge.got == list(range(1, 41))
        await until(lambda: not first.bus.state().unpublished, "the first published all")
        await until(lambda: not second.bus.state().unpublished, "the second published all")
        assert sorted(seqs(await in_stream(nats_server.url))) == list(range(1, 41))
    finally:
        for node in (edge, second, first):
            await node.bus.close()
        await other.close()


def test_the_log_names_the_server_never_its_password() -> None:
    from types import SimpleNamespace
    from typing import cast
    from urllib.parse import urlparse

    from nats.aio.client import Client

    from tryvoha.bus.nats import _where

    nc = SimpleNamespace(connected_url=urlparse("nats://tryvoha:s3cret@nats.example:4222"))
    assert _where(cast(Client, nc)) == "nats.example:4222"
