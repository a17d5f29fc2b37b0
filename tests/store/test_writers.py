"""seq is gap-free and in commit order across writers in several processes, on both
stores: SQLite under its file lock, PostgreSQL under its advisory lock (as writers on
several machines would share one database)."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from tests.support.log import read_log
from tests.support.server import make_token, timeout
from tryvoha.data import region_tree
from tryvoha.domain.regions import Level

pytestmark = pytest.mark.slow
WRITERS = 4
ROUNDS = 15  # declare + clear each


def test_concurrent_writer_processes_share_one_gap_free_log(
    store_url: str, store_kind: str
) -> None:
    hromadas = [r.id for r in region_tree().at_level(Level.HROMADA)]
    for i in range(WRITERS):
        make_token(store_url, f"w{i}", ["UA"])
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.writer",
                store_url,
                f"w{i}",
                str(ROUNDS),
                *hromadas[i * 5 : i * 5 + 5],
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(WRITERS)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:  # go, all at once
        assert p.stdin is not None
        p.stdin.write("\n")
        p.stdin.flush()
    acked = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout(120))
        assert p.returncode == 0
        acked.append([orjson.loads(line) for line in out.splitlines()])

    log = [orjson.loads(raw) for raw in read_log(store_url)]  # no gap, no duplicate
    assert len(log) == WRITERS * ROUNDS * 2
    for mine in acked:
        assert len(mine) == ROUNDS * 2
        seqs = [a["seq"] for a in mine]
        assert seqs == sorted(seqs)  # each writer's commits, in the order it made them
        for a in mine:
            event = log[a["seq"] - 1]
            assert (event["seq"], event["alert"]["id"], event["type"]) == (
                a["seq"],
                a["alert"],
                a["type"],
            )
    interleaved = [mine for mine in acked if mine[-1]["seq"] - mine[0]["seq"] + 1 > len(mine)]
    if store_kind == "postgresql":  # waiters queue for the lock; SQLite's retry, and may lose
        assert interleaved, "the writers ran one after another: nothing was concurrent"
