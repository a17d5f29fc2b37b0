"""Reading the event log straight from the SQLite file, as an independent witness."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from tryvoha.domain.projection import Projection
from tryvoha.protocol.wire import alert_to_json, decode_event


def read_log(store_url: str) -> list[bytes]:
    path = Path(store_url.removeprefix("sqlite:///"))
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT seq, payload FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()
    seqs = [r[0] for r in rows]
    assert seqs == list(range(1, len(seqs) + 1)), "the log has a gap or a duplicate"
    return [bytes(r[1]) for r in rows]


def replay(raws: list[bytes]) -> list[dict[str, object]]:
    """Active alerts after replaying the log from scratch, as the API shows them."""
    projection = Projection()
    for raw in raws:
        projection.apply(decode_event(raw))
    return [alert_to_json(a) for a in projection.active()]


def seqs_of(raws: list[bytes]) -> list[int]:
    return [int(orjson.loads(r)["seq"]) for r in raws]
