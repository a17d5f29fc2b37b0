"""A throwaway nats-server with JetStream on a free loopback port, for the tests and the
bench: Debian's `nats-server` (the Makefile installs it), its storage in a temp dir."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.postgres import free_port
from tests.support.server import timeout


class NatsMissingError(RuntimeError):
    pass


def nats_server_binary() -> str:
    found = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None
    )
    if found is None:
        raise NatsMissingError("nats-server is not installed (make test installs it: nats-server)")
    return found


class NatsServer:
    def __init__(self) -> None:
        self.binary = nats_server_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="tryvoha-nats-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        """Start (again, on the same port and storage after a kill) and wait for it."""
        if not self.port:
            self.port = free_port()
        log = (self.dir / "nats.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "-js",
                "-sd",
                str(self.dir / "js"),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout(20)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nats-server exited:\n" + self.log())
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return self
            time.sleep(0.05)
        raise TimeoutError("nats-server did not listen:\n" + self.log())

    def kill(self) -> None:
        """SIGKILL: no shutdown, as when its machine dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout(10))

    def forget(self) -> None:
        """Lose the stream's storage (a NATS restarted without its disk)."""
        shutil.rmtree(self.dir / "js", ignore_errors=True)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "nats.log").read_text(errors="replace")[-4000:]
        return ""

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def running() -> Iterator[NatsServer]:
    server = NatsServer()
    try:
        yield server.start()
    finally:
        server.remove()
