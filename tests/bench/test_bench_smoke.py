"""The fan-out client is an instrument: against a real tryvoha and a real nginx+nchan, 50
subscribers per transport must each get every event exactly once, in order. Nothing
here is timed; only that the numbers the bench reports are about complete deliveries.

Without nginx and its nchan module the nchan half skips, except under CI=true, where
it fails: the bench must be runnable where the tests run.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import orjson
import pytest
from bench.client import Target
from bench.fanout import NATIONWIDE_EVENTS, WS_HELLO, nchan_payload, oblasts
from bench.http import Http
from bench.options import Options
from bench.polling import IOT_PATH, PATH, ROUNDS, run_polling
from bench.servers import HOST, NCHAN_MODULE, Nginx, Tryvoha
from bench.swarm import Swarm
from bench.writes import run_writes
from rich.console import Console

from tests.support.missing import missing
from tests.support.server import timeout

pytestmark = pytest.mark.anyio
N = 50


def require_nchan() -> None:
    missing = [
        what
        for what, ok in (("nginx", shutil.which("nginx")), ("nchan", NCHAN_MODULE.exists()))
        if not ok
    ]
    if missing:
        why = f"{' and '.join(missing)} missing: run `make system-bench`"
        missing(why)


async def test_tryvoha_subscribers_get_every_event_once(tmp_path: Path) -> None:
    server = Tryvoha(tmp_path / "tryvoha")
    await server.start()
    try:
        async with Http(HOST, server.port) as http:
            regions = await oblasts(http)
            for transport in ("sse", "ws"):
                target = Target(
                    "tryvoha",
                    transport,
                    HOST,
                    server.port,
                    "/api/v1/events" if transport == "sse" else "/api/v1/ws",
                    WS_HELLO if transport == "ws" else None,
                )
                async with Swarm(2, tmp_path / f"clients-{transport}", verify=True) as swarm:
                    connected = await swarm.connect(target, N, deadline_s=timeout(30))
                    assert connected.connected == N, connected
                    first = (await http.request("GET", "/api/v1/alerts/active")).json()["seq"] + 1

                    # A declare naming all 27 oblasts, timed the cheap way (the client is
                    # told how the last event begins), then the clear without that hint.
                    marker = f'{{"seq":{first + NATIONWIDE_EVENTS - 1},'
                    assert await swarm.arm(NATIONWIDE_EVENTS, marker) == N
                    body = orjson.dumps({"regions": regions})
                    declared = await http.request("POST", "/api/v1/alerts", server.auth, body)
                    assert declared.status == 201, declared.body
                    assert declared.json()["seq"] == first + NATIONWIDE_EVENTS - 1
                    assert await swarm.wait_complete(timeout(20))
                    done = await swarm.collect(declared.sent_ns, N)
                    assert (len(done.times_ns), done.missing, done.lost, done.errors) == (
                        N,
                        0,
                        0,
                        {},
                    )
                    assert all(t > declared.sent_ns for t in done.times_ns)

                    assert await swarm.arm(NATIONWIDE_EVENTS) == N
                    cleared = await http.request("POST", "/api/v1/regions/UA/clear", server.auth)
                    assert cleared.status == 200, cleared.body
                    assert await swarm.wait_complete(timeout(20))
                    done = await swarm.collect(cleared.sent_ns, N)
                    assert (len(done.times_ns), done.missing, done.lost, done.errors) == (
                        N,
                        0,
                        0,
                        {},
                    )

                    expected = [str(s) for s in range(first, first + 2 * NATIONWIDE_EVENTS)]
                    assert await swarm.ids() == [expected] * N
                    assert await swarm.close() == {}
    finally:
        await server.stop()
    assert server.problems() == []


async def test_nchan_subscribers_get_every_message_once(tmp_path: Path) -> None:
    require_nchan()
    server = Nginx(tmp_path / "nginx", workers=2)
    await server.start()
    try:
        async with Http(HOST, server.port) as http:
            for transport in ("sse", "ws"):
                target = Target("nchan", transport, HOST, server.port, f"/sub?id={transport}")
                async with Swarm(2, tmp_path / f"clients-{transport}", verify=True) as swarm:
                    connected = await swarm.connect(target, N, deadline_s=timeout(30))
                    assert connected.connected == N, connected
                    for seq in (1, 2):
                        assert await swarm.arm(1, f'{{"seq":{seq},') == N
                        body = nchan_payload(seq, 20_000)
                        assert len(body) == 20_000
                        reply = await http.request("POST", f"/pub?id={transport}", {}, body)
                        assert reply.status == 201, reply.body
                        assert await swarm.wait_complete(timeout(20))
                        done = await swarm.collect(reply.sent_ns, N)
                        assert (len(done.times_ns), done.missing, done.errors) == (N, 0, {})
                    ids = await swarm.ids()
                    assert all(len(got) == 2 for got in ids), ids
                    if transport == "ws":  # the payload's own seq
                        assert ids == [["1", "2"]] * N
                    else:  # nchan's message ids: the same two for everyone
                        assert all(got == ids[0] for got in ids)
                    assert await swarm.close() == {}
    finally:
        await server.stop()
    assert server.problems() == []


async def test_polling_and_writes_sections_measure_what_they_say(tmp_path: Path) -> None:
    """The polling runs get the answers they name (200, then 304) from both servers, on
    API v1 and on the alerts.in.ua IoT string (with an API key), and the writes
    section's declares, clears and round trips are all complete answers."""
    require_nchan()
    if shutil.which("wrk") is None:
        why = "wrk missing: run `make system-bench`"
        missing(why)
    console = Console(file=io.StringIO())
    # as bench.run makes its own: nginx's workers (an unprivileged user under root) must
    # reach the static file, and pytest's temp root is private
    tmp = Path(tempfile.mkdtemp(prefix="tryvoha-bench-test-"))
    tmp.chmod(0o755)
    options = Options(tmp=tmp, results=tmp_path / "results", poll_seconds=1, writes=6)
    try:
        polling = await run_polling(options, console)
        writes = await run_writes(options, console)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert polling.error is None and polling.problems == []
    statuses = {(r.path, r.server, r.conditional): r.status for r in polling.runs}
    assert statuses == {
        (path, server, conditional): 304 if conditional else 200
        for path in (PATH, IOT_PATH)
        for server in ("tryvoha", "nginx")
        for conditional in (False, True)
    }
    assert polling.iot_body == '"' + "A" * 27 + '"'  # the nationwide alert, as LED maps read it
    for run in polling.runs:
        assert len(run.rounds) == ROUNDS and run.requests > 0 and run.errors == {}
    assert writes.error is None and writes.problems == []
    for summary in (writes.declare_ms, writes.clear_ms, writes.round_trip_ms):
        assert summary["p50"] > 0  # every one of them answered 201/200 (checked as sent)


async def test_the_bulk_section_times_each_move_against_a_bare_insert(tmp_path: Path) -> None:
    """A few hundred alerts through import-history and migrate-store on each store, with
    the bare insert of the same rows beside each: every run moved every event."""
    from bench.bulk import run_bulk

    options = Options(tmp=tmp_path, results=tmp_path / "results", bulk_alerts=300)
    bulk = await run_bulk(options, Console(file=io.StringIO()))
    assert bulk.error is None and bulk.problems == []
    assert [(r.what, r.store) for r in bulk.runs] == [
        ("import-history", "sqlite"),
        ("import-history", "postgresql"),
        ("migrate-store from sqlite", "postgresql"),
        ("migrate-store from postgresql", "sqlite"),
    ]
    for run in bulk.runs:
        assert run.events == 600 and run.seconds > 0 and run.bare_seconds > 0
