"""Guarantee 1: a write is acknowledged only after it is durably committed.

A burst of concurrent declares and clears hits a real server; the server is killed with
SIGKILL in the middle of it. After a restart every acknowledged write is in the log, the
log has no gap, and the state the server serves equals a replay of the log. Retrying the
unanswered requests with their Idempotency-Keys never makes a second alert.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import httpx
import orjson
import pytest

from tests.support.log import read_log, replay
from tests.support.server import ServerProcess, make_token, timeout
from tryvoha.data import region_tree
from tryvoha.domain.regions import Level

pytestmark = pytest.mark.slow


@dataclass
class Burst:
    acked: dict[int, bytes] = field(
        default_factory=dict
    )  # seq -> the alert id and type we were told
    unanswered: list[tuple[str, str, dict[str, object] | None, str]] = field(default_factory=list)


async def writer(
    client: httpx.AsyncClient,
    regions: list[str],
    burst: Burst,
    rng: random.Random,
    stop: asyncio.Event,
) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        key = f"{id(regions)}-{n}"
        chosen = rng.sample(regions, rng.randint(1, 3))
        requests: list[tuple[str, str, dict[str, object] | None]] = [
            ("POST", "/api/v1/alerts", {"regions": chosen, "threats": ["drones"]}),
            ("POST", f"/api/v1/regions/{chosen[0]}/clear", None),
        ]
        for method, path, body in requests:
            try:
                response = await client.request(
                    method, path, json=body, headers={"Idempotency-Key": f"{key}-{path}"}
                )
            except httpx.HTTPError:
                burst.unanswered.append((method, path, body, f"{key}-{path}"))
                return
            if response.status_code in (200, 201):
                answer = response.json()
                burst.acked[answer["seq"]] = orjson.dumps(sorted(a["id"] for a in answer["alerts"]))


async def run_burst(url: str, token: str, kill: ServerProcess) -> Burst:
    tree = region_tree()
    hromadas = [r.id for r in tree.at_level(Level.HROMADA)]
    rng = random.Random(20241113)
    burst = Burst()
    stop = asyncio.Event()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout(10)
    ) as client:
        slices = [hromadas[i::8] for i in range(8)]  # disjoint, so clears do not race
        tasks = [asyncio.create_task(writer(client, s, burst, rng, stop)) for s in slices]
        while len(burst.acked) < 150:
            await asyncio.sleep(0.01)
        await asyncio.get_running_loop().run_in_executor(None, kill.kill)  # SIGKILL mid-burst
        stop.set()
        await asyncio.gather(*tasks)
    return burst


def test_kill_9_loses_no_acknowledged_write(server: ServerProcess, store_url: str) -> None:
    token = make_token(store_url, "burst", ["UA"])
    burst = asyncio.run(run_burst(server.url, token, server))
    assert len(burst.acked) >= 150
    assert burst.unanswered, "the kill should have caught requests in flight"

    log = read_log(store_url)  # no gaps, no duplicates
    by_seq = {orjson.loads(raw)["seq"]: orjson.loads(raw) for raw in log}
    for seq in burst.acked:
        assert seq in by_seq, f"acknowledged seq {seq} is not in the log"
    server.start(port=server.port)
    served = httpx.get(f"{server.url}/api/v1/alerts/active").json()
    assert served["seq"] == len(log)
    assert served["alerts"] == replay(log)

    # retry what got no answer: committed ones replay, others run now; never a second alert
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        for method, path, body, key in burst.unanswered:
            response = client.request(method, path, json=body, headers={"Idempotency-Key": key})
            assert response.status_code in (200, 201, 409), response.text
    after = read_log(store_url)
    assert replay(after) == httpx.get(f"{server.url}/api/v1/alerts/active").json()["alerts"]
