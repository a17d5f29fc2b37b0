"""Many machines on loopback, every process real and started here: PostgreSQL (as an
unprivileged user), nats-server with JetStream, one writer and two edges (`tryvoha
serve --role ...`), SSE and WebSocket subscribers on both edges, and a steady stream of
declares and clears sent to the edges and the writer alike. Meanwhile: an edge is killed
(-9) and started again, nats-server is killed (-9) and started again, PostgreSQL is
stopped (immediately, as in a crash) and started again.

At the end every subscriber holds exactly the log's events, in order, once, after all
its resumes, and every write that was acknowledged is in PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.support.log import read_log
from tests.support.missing import missing
from tests.support.nats import NatsServer
from tests.support.postgres import Cluster, PostgresMissingError
from tests.support.server import ServerProcess, make_token, timeout
from tryvoha.data import region_tree
from tryvoha.domain.regions import Level

pytestmark = pytest.mark.slow
# a subscriber that hears nothing this long drops its connection and resumes: it learns
# soon that the writes have stopped, and resumes more often meanwhile
QUIET_SECONDS = 1.0
OBLASTS = [r.id for r in region_tree().at_level(Level.OBLAST)]


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster of this test's own: it is stopped and started again."""
    try:
        cluster = Cluster()
    except PostgresMissingError as e:
        missing(str(e))
    try:
        yield cluster.start()
    finally:
        cluster.remove()


@dataclass
class Run:
    """What the writing client was told, and when the subscribers may stop."""

    acknowledged: dict[int, tuple[str, str]] = field(default_factory=dict)  # seq: (type, alert)
    writing: bool = True
    final_seq: int | None = None
    failures: int = 0


async def write_steadily(run: Run, targets: list[str], token: str) -> None:
    """Declare and clear in turn, each request to the next target; a request that fails
    (a target down, a store restarting) is sent again, with its Idempotency-Key, to the
    next target, until it is acknowledged."""
    turn = itertools.cycle(range(len(targets)))
    rng = random.Random(11)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=timeout(15), headers=auth) as client:

        async def send(path: str, key: str, body: object) -> dict[str, object]:
            for _attempt in range(400):
                url = targets[next(turn)]
                try:
                    answer = await client.post(
                        url + path, json=body, headers={"Idempotency-Key": key}
                    )
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code < 300:
                    data: dict[str, object] = answer.json()
                    return data
                assert answer is None or answer.status_code >= 500, answer.text
                run.failures += 1
                await asyncio.sleep(0.05)
            raise AssertionError(f"{path} was never acknowledged")

        n = 0
        while run.writing:
            n += 1
            region = OBLASTS[n % len(OBLASTS)]
            declared = await send("/api/v1/alerts", f"d{n}", {"regions": [region]})
            alert = declared["alerts"][0]["id"]  # type: ignore[index]
            run.acknowledged[int(declared["seq"])] = ("alert.declared", alert)  # type: ignore[arg-type]
            cleared = await send(f"/api/v1/alerts/{alert}/clear", f"c{n}", None)
            run.acknowledged[int(cleared["seq"])] = ("alert.cleared", alert)  # type: ignore[arg-type]
            await asyncio.sleep(rng.random() * 0.02)


async def sse_subscriber(run: Run, url: str, rng: random.Random) -> list[bytes]:
    got: list[bytes] = []
    last = 0
    while run.final_seq is None or last < run.final_seq:
        budget = rng.randint(5, 60)  # events before dropping the connection on purpose
        try:
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(timeout(10), read=QUIET_SECONDS)) as client,
                client.stream(
                    "GET", f"{url}/api/v1/events", headers={"Last-Event-ID": str(last)}
                ) as response,
            ):
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        got.append(line[6:].encode())
                        last = orjson.loads(got[-1])["seq"]
                        budget -= 1
                        if budget == 0 or last == run.final_seq:
                            break
        except httpx.HTTPError:
            await asyncio.sleep(0.1)  # its edge is down: resume when it is back
    return got


async def ws_subscriber(run: Run, url: str, rng: random.Random) -> list[bytes]:
    got: list[bytes] = []
    last = 0
    while run.final_seq is None or last < run.final_seq:
        budget = rng.randint(5, 60)
        try:
            async with websockets.connect(
                url.replace("http", "ws") + "/api/v1/ws", open_timeout=timeout(10), close_timeout=1
            ) as ws:
                await ws.send(orjson.dumps({"after": last, "regions": []}).decode())
                hello = await asyncio.wait_for(ws.recv(), timeout(10))
                assert orjson.loads(hello)["type"] == "hello"
                while budget and (run.final_seq is None or last < run.final_seq):
                    raw = (await asyncio.wait_for(ws.recv(), QUIET_SECONDS)).encode()
                    got.append(raw)
                    last = orjson.loads(raw)["seq"]
                    budget -= 1
        except (OSError, TimeoutError, websockets.ConnectionClosed):
            await asyncio.sleep(0.1)
    return got


async def ready(url: str) -> int:
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=timeout(5)) as client:
            return (await client.get(f"{url}/readyz")).status_code
    return 0


async def until_ready(url: str) -> None:
    deadline = time.monotonic() + timeout(30)
    while await ready(url) != 200:
        assert time.monotonic() < deadline, f"{url} never became ready"
        await asyncio.sleep(0.1)


async def progress(run: Run, events: int) -> None:
    """Until `events` more acknowledged writes than now."""
    goal = len(run.acknowledged) + events
    deadline = time.monotonic() + timeout(60)
    while len(run.acknowledged) < goal:
        assert time.monotonic() < deadline, "the writes stopped making progress"
        await asyncio.sleep(0.05)


def test_subscribers_on_edges_get_the_whole_log_through_kills_and_restarts(
    cluster: Cluster, nats_server: NatsServer, tmp_path: Path
) -> None:
    store = cluster.create_database()
    bus = ["--bus", nats_server.url]
    unlimited = ["--token-write-rate-limit", "off"]  # one token writes as fast as it may
    writer = ServerProcess(store, ["--role", "writer", *bus, *unlimited], cwd=tmp_path)
    writer.start()
    edge_args = ["--role", "edge", *bus, "--writer-url", writer.url]
    edges = [ServerProcess(store, edge_args, cwd=tmp_path) for _ in range(2)]
    for edge in edges:
        edge.start()
    token = make_token(store, "national", ["UA"])

    async def scenario() -> tuple[Run, list[list[bytes]]]:
        run = Run()
        urls = [edges[0].url, edges[1].url, writer.url]
        writing = asyncio.create_task(write_steadily(run, urls, token))
        subscribers = [
            asyncio.create_task(make(run, edge.url, random.Random(seed)))
            for seed, (edge, make) in enumerate(
                itertools.product(edges, (sse_subscriber, ws_subscriber))
            )
        ]
        await progress(run, 40)
        edges[0].kill()  # -9
        await progress(run, 30)
        edges[0].start(port=edges[0].port)
        await until_ready(edges[0].url)
        await progress(run, 30)
        nats_server.kill()  # -9
        await progress(run, 30)  # writes go on; edges read the store meanwhile
        nats_server.start()
        await progress(run, 30)
        await asyncio.to_thread(cluster.stop, "immediate")  # as in a crash
        await asyncio.sleep(0.5)
        assert await ready(writer.url) == 503, "a writer without its store is not ready"
        assert await ready(edges[1].url) == 200, "an edge serves on from memory"
        await asyncio.to_thread(cluster.pg_ctl_start)
        await progress(run, 40)
        run.writing = False
        await writing
        run.final_seq = max(run.acknowledged)
        got = [await asyncio.wait_for(s, timeout(60)) for s in subscribers]
        return run, got

    try:
        run, got = asyncio.run(scenario())
        log = read_log(store)
        assert len(log) >= len(run.acknowledged) > 200
        events = {orjson.loads(raw)["seq"]: orjson.loads(raw) for raw in log}
        for seq, (kind, alert) in run.acknowledged.items():
            assert events[seq]["type"] == kind and events[seq]["alert"]["id"] == alert, seq
        assert run.failures > 0, "the faults should have failed some requests"
        for received in got:
            assert received == log
    finally:
        for edge in edges:
            edge.stop()
        writer.stop()
