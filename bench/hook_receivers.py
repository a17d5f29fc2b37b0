"""Webhook endpoints for the bench, in a process of their own: `answering` of them answer
every POST with 204 at once, `silent` ones accept connections and never answer (tryvoha
times out), and `refused` ports have nobody listening (tryvoha's connections are refused).

    python -m bench.hook_receivers --answering 100 --silent 50 --refused 50

prints one JSON line, {"answering": [ports], "silent": [ports], "refused": [ports]}, then
serves until stopped. `GET /stats` on any answering port gives {"requests": n,
"min_last_seq": s}: every answering endpoint has had every event up to s.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from typing import cast

import orjson

HOST = "127.0.0.1"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


class Counts:
    def __init__(self, ports: int) -> None:
        self.requests = 0
        self.last_seq = [0] * ports

    def stats(self) -> bytes:
        body = orjson.dumps({"requests": self.requests, "min_last_seq": min(self.last_seq)})
        head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        return head + body


class Answering(asyncio.Protocol):
    def __init__(self, counts: Counts, index: int) -> None:
        self.counts = counts
        self.index = index
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").lower()
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            if head.startswith("get /stats"):
                self.transport.write(self.counts.stats())
                continue
            self.counts.requests += 1
            try:
                seq = int(orjson.loads(body)["seq"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                seq = 0
            self.counts.last_seq[self.index] = max(self.counts.last_seq[self.index], seq)
            self.transport.write(NO_CONTENT)


class Silent(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        return  # read, never answer


def reserved_ports(n: int) -> list[int]:
    """Ports nobody listens on: bound for a moment, then let go."""
    ports = []
    for _ in range(n):
        with socket.socket() as s:
            s.bind((HOST, 0))
            ports.append(s.getsockname()[1])
    return ports


async def serve(answering: int, silent: int, refused: int) -> None:
    loop = asyncio.get_running_loop()
    counts = Counts(answering)
    ports: dict[str, list[int]] = {"answering": [], "silent": [], "refused": []}
    servers = []
    for i in range(answering):
        server = await loop.create_server(
            lambda i=i: Answering(counts, i),  # type: ignore[misc]
            HOST,
            0,
        )
        servers.append(server)
        ports["answering"].append(server.sockets[0].getsockname()[1])
    for _ in range(silent):
        server = await loop.create_server(Silent, HOST, 0)
        servers.append(server)
        ports["silent"].append(server.sockets[0].getsockname()[1])
    ports["refused"] = reserved_ports(refused)
    sys.stdout.write(orjson.dumps(ports).decode() + "\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.hook_receivers")
    p.add_argument("--answering", type=int, default=100)
    p.add_argument("--silent", type=int, default=50)
    p.add_argument("--refused", type=int, default=50)
    args = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.answering, args.silent, args.refused))


if __name__ == "__main__":
    main()
