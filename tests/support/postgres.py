"""A throwaway PostgreSQL cluster on a free loopback port, for the tests and the bench.

Debian's binaries (/usr/lib/postgresql/<version>/bin) run as an unprivileged user:
PostgreSQL refuses to run as root, and CI runs as root. The cluster lives in a temporary
directory owned by that user and is removed on stop. Every test gets a database of its own,
copied from a migrated template (CREATE DATABASE ... TEMPLATE), in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")
PASSWORD = "test-" + secrets.token_hex(8)
SUPERUSER = "tryvoha"
TEMPLATE = "tryvoha_template"


class PostgresMissingError(RuntimeError):
    pass


def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Call blocking code that runs a loop of its own (tryvoha's upgrade, inspect) from
    anywhere, even an async fixture: in a thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def run_sync(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code, even inside a running loop (an
    async fixture): then on a loop of its own, in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def bin_dir() -> Path:
    """The newest installed PostgreSQL's server binaries."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise PostgresMissingError(
            "PostgreSQL is not installed (make test installs it: postgresql)"
        )
    return Path(initdb).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unprivileged() -> dict[str, Any]:
    """subprocess arguments that drop root (PostgreSQL refuses it); nothing otherwise."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            user = pwd.getpwnam(name)
            return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    raise PostgresMissingError("running as root, and no unprivileged user to run PostgreSQL")


class Cluster:
    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.bin = bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="tryvoha-pg-"))
        self.data = self.dir / "data"
        self.port = 0
        self.settings = settings or {}
        self._as = unprivileged()
        self._databases = 0

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            cwd=self.dir,
            check=False,
            **self._as,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed:\n{done.stdout}{done.stderr}")

    def start(self) -> Cluster:
        if self._as:
            os.chown(self.dir, self._as["user"], self._as["group"])
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD)
        if self._as:
            os.chown(pwfile, self._as["user"], self._as["group"])
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(pwfile),
            "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        self.port = free_port()
        self.pg_ctl_start()
        return self

    def pg_ctl_start(self) -> None:
        options = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.dir),
            "max_connections": "300",
            **self.settings,
        }
        flags = " ".join(f"-c {k}={v}" for k, v in options.items())
        log = str(self.dir / "postgres.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", flags, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.pg_ctl_start()

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    async def admin(self, *statements: str) -> None:
        await self.admin_on(self.url(), *statements)

    def database(self, template: str | None = None, *setup: str) -> str:
        """A new database, with these statements run in it; its URL."""
        url = self.create_database(template)
        if setup:
            run_sync(self.admin_on(url, *setup))
        return url

    async def admin_on(self, url: str, *statements: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    def create_database(self, template: str | None = None) -> str:
        """A new database (from the template when given); its URL."""
        self._databases += 1
        name = f"t{self._databases}_{secrets.token_hex(3)}"
        source = f" TEMPLATE {template}" if template else ""
        run_sync(self.admin(f"CREATE DATABASE {name}{source}"))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        run_sync(self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@contextlib.contextmanager
def running(settings: dict[str, str] | None = None) -> Iterator[Cluster]:
    cluster = Cluster(settings)
    try:
        yield cluster.start()
    finally:
        cluster.remove()
