"""A real `tryvoha serve` process on a free loopback port, for tests that need one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tryvoha.cli.launch import Launched, LaunchError, launch
from tryvoha.data import region_tree
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import issue_token
from tryvoha.store import open_store

TIMEOUT_FACTOR = float(os.environ.get("TRYVOHA_TEST_TIMEOUT_FACTOR", "1"))


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
        self.proc: subprocess.Popen[bytes] | None = None
        self.output: list[str] = []
        self._launched: Launched | None = None

    def _join(self) -> None:
        """Wait for the previous process's output to be read to its end (and closed)."""
        if self._launched is not None:
            self._launched.join_output(timeout(10))

    def start(self, port: int | None = None) -> str:
        """Start and wait until it says it listens; returns its URL."""
        self._join()
        args = ["--host", "127.0.0.1", "--port", str(self.port if port is None else port)]
        args += ["--store", self.store_url, "--log-level", "warning", *self.args]
        try:
            self._launched = launch(
                args, env=self.env, cwd=self.cwd, seconds=timeout(60), output=self.output
            )
        except LaunchError as e:
            raise RuntimeError(str(e)) from None
        self.proc = self._launched.proc
        self.url = self._launched.url
        self.port = self._launched.port
        return self.url

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
