"""A real `tryvoha serve` process on a free loopback port, for tests that need one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tryvoha.data import region_tree
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import issue_token
from tryvoha.store import open_store

TIMEOUT_FACTOR = float(os.environ.get("TRYVOHA_TEST_TIMEOUT_FACTOR", "1"))
READY = "tryvoha listening on "


def timeout(seconds: float) -> float:
    """Every wait in the tests goes through one factor, for slow machines."""
    return seconds * TIMEOUT_FACTOR


class ServerProcess:
    def __init__(
        self,
        store_url: str,
        args: Sequence[str] = (),
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        standing: bool = False,
    ) -> None:
        self.store_url = store_url
        # Tests start from an empty state unless they ask for the standing alerts.
        self.args = [*args, *([] if standing else ["--no-standing-alerts"])]
        self.cwd = cwd
        self.env = dict(env or {})
        self.port = 0
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self._drainer: threading.Thread | None = None

    def _join(self) -> None:
        """Wait for the previous process's output to be read to its end (and closed)."""
        if self._drainer is not None:
            self._drainer.join(timeout(10))
            self._drainer = None

    def start(self, port: int | None = None) -> str:
        """Start and wait until it says it listens; returns its URL."""
        cmd = [
            sys.executable,
            "-m",
            "tryvoha",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port if port is None else port),
            "--store",
            self.store_url,
            "--log-level",
            "warning",
            *self.args,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self._join()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.cwd, env=env
        )
        deadline = time.monotonic() + timeout(60)
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.stdout.close()
                self.proc.wait()
                raise RuntimeError("server exited before it listened:\n" + "".join(self.output))
            self.output.append(line)
            if line.startswith(READY):
                self.url = line[len(READY) :].strip()
                self.port = int(self.url.rsplit(":", 1)[1])
                self._drainer = threading.Thread(target=self._drain, daemon=True)
                self._drainer.start()
                return self.url
        raise TimeoutError("server did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        proc = self.proc
        if proc is not None and proc.stdout is not None:
            with proc.stdout:
                for line in proc.stdout:
                    self.output.append(line)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine loses power."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout(10))
        self._join()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout(15))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._join()


def make_token(store_url: str, name: str, scope: Sequence[str], role: Role = Role.ISSUER) -> str:
    """A token made straight on the store (the server may be running on it)."""

    async def run() -> str:
        store = open_store(store_url)
        await store.open()
        try:
            issued = await issue_token(store, region_tree(), name, role, list(scope))
            return issued.secret
        finally:
            await store.close()

    return asyncio.run(run())
