"""`python -m bench.push`: Web Push delivery, measured on loopback.

A real `tryvoha serve` (SQLite) with N browsers subscribed to one region, pushing to a
local push-service stand-in (an asyncio HTTP/1.1 server in a process of its own that
answers 201 at once). Measured, in the same run:

- subscribe: N `POST /api/v1/push/subscriptions`, 32 at a time;
- push: from one declare's request to the N-th message taken by the receiver;
  against two references: the same number of plain POSTs of the same size from an httpx
  client at the same concurrency (what sending costs without encryption and VAPID), and
  the in-process rate of pywebpush's encryption alone;
- the declare latency of another region while the N messages go out, against the same
  declares on an idle server: a write's answer must not wait behind a channel.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tests.support.push import BrowserKeys
from tests.support.server import ServerProcess, make_token

LVIV = "UA46000000000026241"
KYIV_CITY = "UA80000000000093317"
CONCURRENCY = 32


def receive(port_out: Any, count: Any) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                with count.get_lock():
                    count.value += 1
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_out.value = server.sockets[0].getsockname()[1]
        await server.serve_forever()

    asyncio.run(main())


async def subscribe_all(url: str, endpoint: str, n: int) -> float:
    async with httpx.AsyncClient(timeout=30) as client:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            body = {
                "subscription": BrowserKeys().subscription(f"{endpoint}/{i}"),
                "regions": [LVIV],
            }
            async with semaphore:
                answer = await client.post(f"{url}/api/v1/push/subscriptions", json=body)
            assert answer.status_code == 201, answer.text

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


async def plain_posts(endpoint: str, n: int, size: int) -> float:
    async with httpx.AsyncClient(
        timeout=30, limits=httpx.Limits(max_connections=CONCURRENCY), trust_env=False
    ) as client:
        semaphore = asyncio.Semaphore(CONCURRENCY)
        body = b"x" * size

        async def one(i: int) -> None:
            async with semaphore:
                await client.post(f"{endpoint}/{i}", content=body)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


def encryption_rate(seconds: float = 1.0) -> float:
    from pywebpush import WebPusher

    keys = BrowserKeys()
    info = keys.subscription("https://push.example.org/1")
    data = b"x" * 500
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        WebPusher(info).encode(data, "aes128gcm")
        done += 1
    return done / (time.perf_counter() - started)


def declare_latencies(url: str, token: str, rounds: int) -> list[float]:
    auth = {"Authorization": f"Bearer {token}"}
    found = []
    with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
        for _ in range(rounds):
            started = time.perf_counter()
            made = client.post("/api/v1/alerts", json={"regions": [KYIV_CITY]})
            found.append(time.perf_counter() - started)
            assert made.status_code == 201, made.text
            client.post(f"/api/v1/alerts/{made.json()['alerts'][0]['id']}/clear")
    return found


def wait_for(count: Any, target: int, seconds: float) -> float:
    started = time.perf_counter()
    while count.value < target:
        if time.perf_counter() - started > seconds:
            raise TimeoutError(f"{count.value} of {target} messages arrived")
        time.sleep(0.002)
    return time.perf_counter()


def run(n: int, rounds: int) -> dict[str, float]:
    port, count = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
    receiver = multiprocessing.Process(target=receive, args=(port, count), daemon=True)
    receiver.start()
    while not port.value:
        time.sleep(0.01)
    endpoint = f"http://127.0.0.1:{port.value}/push"
    folder = Path(tempfile.mkdtemp(prefix="bench-push-"))
    store = f"sqlite:///{folder / 'bench.db'}"
    server = ServerProcess(store, ["--push-allow-private"], cwd=folder)
    server.start()
    try:
        token = make_token(store, "bench", ["UA"])
        subscribe_seconds = asyncio.run(subscribe_all(server.url, endpoint, n))
        idle = declare_latencies(server.url, token, rounds)
        auth = {"Authorization": f"Bearer {token}"}
        base = count.value
        started = time.perf_counter()
        httpx.post(f"{server.url}/api/v1/alerts", json={"regions": [LVIV]}, headers=auth)
        busy = declare_latencies(server.url, token, rounds)  # while the N messages go out
        push_seconds = wait_for(count, base + n, 120) - started
        size = 600  # about what one notice takes, encrypted
        plain_seconds = asyncio.run(plain_posts(endpoint, n, size))
        return {
            "subscriptions": n,
            "subscribe_per_s": n / subscribe_seconds,
            "push_per_s": n / push_seconds,
            "plain_post_per_s": n / plain_seconds,
            "encrypt_per_s": encryption_rate(),
            "declare_idle_ms": statistics.median(idle) * 1000,
            "declare_busy_ms": statistics.median(busy) * 1000,
            "declare_busy_max_ms": max(busy) * 1000,
        }
    finally:
        server.stop()
        receiver.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    found = run(args.subscriptions, args.rounds)
    print(
        f"web push, {found['subscriptions']:.0f} browsers on one region, concurrency {CONCURRENCY}"
    )
    rows = [
        ("subscribe (API)", f"{found['subscribe_per_s']:.0f}/s", "", ""),
        (
            "push: declare to the last message",
            f"{found['push_per_s']:.0f}/s",
            f"plain POSTs {found['plain_post_per_s']:.0f}/s",
            f"{found['push_per_s'] / found['plain_post_per_s']:.2f}",
        ),
        (
            "",
            "",
            f"encryption alone {found['encrypt_per_s']:.0f}/s",
            f"{found['push_per_s'] / found['encrypt_per_s']:.2f}",
        ),
        (
            "declare of another region, median",
            f"{found['declare_busy_ms']:.1f} ms while pushing",
            f"{found['declare_idle_ms']:.1f} ms idle",
            f"{found['declare_busy_ms'] / found['declare_idle_ms']:.2f}",
        ),
        ("declare of another region, max", f"{found['declare_busy_max_ms']:.1f} ms", "", ""),
    ]
    for row in rows:
        print(f"  {row[0]:<36} {row[1]:<26} {row[2]:<28} {row[3]}")


if __name__ == "__main__":
    main()
