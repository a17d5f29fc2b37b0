"""Telegram: how fast tryvoha's own part of a nationwide drain runs, and in what memory.

    python -m bench.telegram [--subscribers 100000]

Telegram lets a bot send about 30 messages a second, so 100,000 subscribers take 3,334 s
(56 minutes) however fast tryvoha is; what this measures is that tryvoha is never the
slower side. A SQLite store holds the subscribers (each following a hromada, spread over
the country) and a nationwide declare (27 oblasts) is drained by the real sweep
(`channels.telegram.direct`) with the limits lifted, through aiogram, to the stand-in Bot
API of the tests on loopback. The reference, in the same run: aiogram alone sending the
same number of messages to the same server, as many at once as the sweep (32), with no
store, no texts and no cursors. The ratio is tryvoha's rate over the reference's.
Memory: how far the process's resident memory rose above where it was before the sweep
(sampled every 20 ms), at a tenth of the subscribers and at all of them: a sweep holds a
page of subscribers, not all.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import SendMessage
from rich.console import Console
from rich.table import Table
from tests.support.telegram import TOKEN, StandInBotApi

from tryvoha.channels.lease import Holding
from tryvoha.channels.telegram.direct import IN_FLIGHT, DirectMessages, Window
from tryvoha.channels.telegram.pace import Pace
from tryvoha.channels.telegram.record import Recorder
from tryvoha.channels.telegram.sender import Sender
from tryvoha.data import region_tree
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, ThreatType
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.regions import Level
from tryvoha.protocol.telegram import Wording
from tryvoha.store import Store, open_store
from tryvoha.web.names import display_name

TELEGRAM_PER_SECOND = 30


class NoMoreEvents:
    """The sweep's source: the window holds the whole declare already."""

    async def now_after(self, seq: Seq, limit: int) -> list[object]:
        return []


def bot(url: str) -> Bot:
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))


def nationwide(after: int) -> list[Event]:
    at = datetime.now(UTC)
    oblasts = [r.id for r in region_tree().at_level(Level.OBLAST)]
    return [
        Event(
            Seq(i),
            EventType.DECLARED,
            at,
            "bench",
            Alert(
                AlertId(f"b{i}"),
                r,
                ThreatType.AIR_RAID,
                AlertLevel.RED,
                (),
                None,
                at,
                at,
                None,
                "bench",
            ),
        )
        for i, r in enumerate(oblasts, after + 1)
    ]


async def subscribers(store: Store, count: int) -> None:
    hromadas = [r.id for r in region_tree().at_level(Level.HROMADA)]
    rows = [(1_000_000 + i, hromadas[i % len(hromadas)], "uk", 0) for i in range(count)]
    for start in range(0, count, 50_000):
        await store.import_rows("telegram_chats", rows[start : start + 50_000])


def resident() -> int:
    """This process's resident memory, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def sweep(store: Store, url: str) -> tuple[float, int, int]:
    """The real sweep, limits lifted: seconds, messages sent, how far memory rose."""
    assert await store.take_lease("telegram", "bench", 3600)
    recorder = Recorder(Holding(store, "telegram", "bench"))
    client = bot(url)
    sender = Sender(client, Pace(per_second=float("inf"), chat_seconds=0.0))
    direct = DirectMessages(
        store, NoMoreEvents(), sender, recorder, Wording(region_tree(), display_name)
    )  # type: ignore[arg-type]
    flusher = asyncio.get_running_loop().create_task(recorder.run())
    events = nationwide(0)
    gc.collect()
    before = peak = resident()

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, resident())
            await asyncio.sleep(0.02)

    watching = asyncio.get_running_loop().create_task(watch())
    started = time.perf_counter()
    await direct.sweep(Window(Seq(0), events[-1].seq, list(events)))
    seconds = time.perf_counter() - started
    watching.cancel()
    flusher.cancel()
    await client.session.close()
    return seconds, sender.sent, peak - before


async def reference(url: str, count: int) -> float:
    """aiogram alone: `count` messages, IN_FLIGHT at once; seconds."""
    client = bot(url)
    room = asyncio.Semaphore(IN_FLIGHT)

    async def one(chat: int) -> None:
        async with room:
            await client(SendMessage(chat_id=chat, text="🔴 Повітряна тривога: Львівська область"))

    started = time.perf_counter()
    await asyncio.gather(*(one(1_000_000 + i) for i in range(count)))
    seconds = time.perf_counter() - started
    await client.session.close()
    return seconds


async def run(count: int) -> None:
    console = Console()
    api = StandInBotApi(keep=False).start()
    table = Table(title=f"Telegram: a nationwide declare to {count:,} subscribers (SQLite)")
    for column in ("subscribers", "tryvoha msg/s", "reference msg/s", "ratio", "+MiB", "at 30/s"):
        table.add_column(column, justify="right")
    try:
        for size in (count // 10, count):
            with tempfile.TemporaryDirectory() as tmp:
                store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
                await store.open()
                try:
                    await subscribers(store, size)
                    seconds, sent, grown = await sweep(store, api.url)
                finally:
                    await store.close()
            assert sent == size, (sent, size)
            ref = await reference(api.url, size)
            drain = size / TELEGRAM_PER_SECOND
            table.add_row(
                f"{size:,}",
                f"{size / seconds:,.0f}",
                f"{size / ref:,.0f}",
                f"{ref / seconds:.2f}",
                f"{grown / 2**20:.1f}",
                f"{drain:,.0f} s ({drain / 60:.0f} min)",
            )
    finally:
        api.stop()
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    asyncio.run(run(parser.parse_args().subscribers))


if __name__ == "__main__":
    main()
