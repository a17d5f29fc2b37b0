"""Several serving processes on one box share one event stream (the hub): a subscriber on
any process gets every event committed by any process, in order, once, and keeps doing
so when a serving process is killed and started again."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.log import read_log
from tests.support.server import ServerProcess, make_token, timeout
from tryvoha.data import region_tree
from tryvoha.domain.regions import Level

pytestmark = pytest.mark.slow
EVENTS = 120


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(c) for c in text)
    return found


async def subscriber(url: str, until: int, rng: random.Random) -> list[bytes]:
    """Drops its connection every few events and resumes, often on another process that
    may be a few milliseconds behind the one it left: no resync, nothing twice."""
    got: list[bytes] = []
    last = 0
    while last < until:
        budget = rng.randint(1, 6)
        try:
            async with (
                httpx.AsyncClient(timeout=timeout(20)) as client,
                client.stream(
                    "GET", f"{url}/api/v1/events", headers={"Last-Event-ID": str(last)}
                ) as response,
            ):
                async for line in response.aiter_lines():
                    assert line != "event: resync", "resynced on a seq the log has"
                    if line.startswith("data: "):
                        got.append(line[6:].encode())
                        last = orjson.loads(got[-1])["seq"]
                        budget -= 1
                        if last >= until or budget == 0:
                            break
        except httpx.HTTPError:
            await asyncio.sleep(0.05)  # its process died: reconnect, resume after `last`
    return got


async def writer(url: str, token: str, count: int, on_halfway: asyncio.Event) -> None:
    oblasts = [r.id for r in region_tree().at_level(Level.OBLAST)]
    written = 0
    i = 0
    while written < count:
        i += 1
        # a new connection each time: the kernel spreads them over the processes
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            try:
                declared = await client.post(
                    "/api/v1/alerts",
                    json={"regions": [oblasts[i % len(oblasts)]]},
                    headers={"Idempotency-Key": f"d{i}"},
                )
                alert_id = declared.json()["alerts"][0]["id"]
                cleared = await client.post(
                    f"/api/v1/alerts/{alert_id}/clear", headers={"Idempotency-Key": f"c{i}"}
                )
            except httpx.HTTPError:
                i -= 1  # the process we hit was killed; the same keys make the retry safe
                await asyncio.sleep(0.05)
                continue
            if cleared.status_code == 200:
                written = cleared.json()["seq"]
        if written >= count // 2:
            on_halfway.set()


def test_subscribers_on_every_process_get_every_event_through_a_kill(
    tmp_path: Path, store_url: str
) -> None:
    server = ServerProcess(store_url, ["--workers", "3"], cwd=tmp_path)
    server.start()
    try:
        assert server.proc is not None
        token = make_token(store_url, "writer", ["UA"])
        serving = children(server.proc.pid)
        assert (
            len(
                [
                    p
                    for p in serving
                    if Path(f"/proc/{p}/cmdline").read_bytes().find(b"multiprocessing") >= 0
                ]
            )
            >= 3
        )

        async def scenario() -> list[list[bytes]]:
            halfway = asyncio.Event()
            subs = [
                asyncio.create_task(subscriber(server.url, EVENTS, random.Random(i)))
                for i in range(12)
            ]
            await asyncio.sleep(0.5)
            writing = asyncio.create_task(writer(server.url, token, EVENTS, halfway))
            await halfway.wait()
            victim = next(
                p
                for p in children(server.proc.pid)  # type: ignore[union-attr]
                if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
            )
            os.kill(victim, signal.SIGKILL)
            await writing
            return list(await asyncio.wait_for(asyncio.gather(*subs), timeout(60)))

        results = asyncio.run(scenario())
        log = read_log(store_url)
        assert len(log) >= EVENTS
        for got in results:
            assert got == log[: len(got)] and len(got) >= EVENTS  # in order, once
    finally:
        server.stop()


def test_killing_the_supervisor_takes_the_serving_processes_with_it(
    tmp_path: Path, store_url: str
) -> None:
    # auto: one process per core (two at least here, so that there is a supervisor)
    workers = "auto" if (os.cpu_count() or 1) >= 2 else "2"
    server = ServerProcess(store_url, ["--workers", workers], cwd=tmp_path)
    server.start()
    assert server.proc is not None
    serving = children(server.proc.pid)
    tracker = [p for p in serving if b"resource_tracker" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert len(serving) - len(tracker) == max(2, min(64, os.cpu_count() or 1))
    server.kill()
    deadline = time.monotonic() + timeout(10)
    while time.monotonic() < deadline and any(
        Path(f"/proc/{p}").exists() and b"Z" not in Path(f"/proc/{p}/stat").read_bytes().split()[2]
        for p in serving
    ):
        time.sleep(0.1)
    alive = [
        p
        for p in serving
        if Path(f"/proc/{p}").exists() and b"Z" != Path(f"/proc/{p}/stat").read_bytes().split()[2]
    ]
    assert alive == []
