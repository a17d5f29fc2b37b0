"""The servers under test, each started in its own temporary directory on a free port:
tryvoha exactly as its README tells users to run it, and nginx with the nchan module
from a generated configuration. Both are stopped by process group, within bounds."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bench import procs
from bench.http import Http
from tryvoha.cli.launch import LaunchError, launch

START_SECONDS = 60.0
STOP_SECONDS = 20.0
HOST = "127.0.0.1"
NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
NGINX = "nginx"
# The bench's clients share a few loopback addresses and one token: tryvoha's limits per
# client address and per token (issue 15) are off, as nginx has none.
NO_CLIENT_LIMITS = [
    "--client-rate-limit",
    "off",
    "--max-streams-per-client",
    "1000000",
    "--token-write-rate-limit",
    "off",
]
PROBLEM = re.compile(r"\b(ERROR|CRITICAL|Traceback|emerg|alert|crit)\b|\[error\]")


class ServerError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def hard_open_files() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


class Server(Protocol):
    name: str
    port: int

    def pids(self) -> list[int]:
        """Every process that serves (for CPU time)."""
        ...

    def memory_pids(self) -> list[int]:
        """The processes whose RSS holds the subscribers."""
        ...

    def problems(self) -> list[str]: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    async def stop(self) -> None: ...


class Spawned:
    """A server process in its own process group, with its output in a log file."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def spawn(self, cmd: list[str]) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def pids(self) -> list[int]:
        return procs.tree(self.proc.pid) if self.proc is not None else []

    def memory_pids(self) -> list[int]:
        return self.pids()

    def exited(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}"
        return None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def problems(self) -> list[str]:
        """Lines of the server's log that tell of errors."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if PROBLEM.search(line)]

    async def wait_http(self, path: str, deadline: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            if (why := self.exited()) is not None:
                raise ServerError(why)
            try:
                async with Http(HOST, self.port) as http:
                    reply = await http.request("GET", path, timeout_s=5)
                if reply.status < 400:
                    return
                last = f"HTTP {reply.status}"
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as e:
                last = type(e).__name__
            await asyncio.sleep(0.05)
        raise ServerError(f"{self.name} did not answer {path} ({last}):\n{self.tail()}")

    def pause(self) -> None:
        """Freeze every process of the server (SIGSTOP to its group), so that its timers
        (heartbeats, pings) cannot run while the other server is being timed."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)

    async def stop(self) -> None:
        """SIGTERM to the process group, then SIGKILL if it is still there."""
        proc = self.proc
        if proc is None:
            return
        self.resume()
        for sig, wait in ((signal.SIGTERM, STOP_SECONDS), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            deadline = time.monotonic() + wait
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        # Workers of the group may outlive their parent for a moment.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.proc = None


def tryvoha_command() -> list[str]:
    exe = Path(sys.executable).with_name("tryvoha")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tryvoha"]


class Tryvoha(Spawned):
    """`tryvoha serve --host 127.0.0.1 --port P --store sqlite:///<dir>/bench.db`."""

    name = "tryvoha"

    def __init__(self, workdir: Path, workers: int = 1, args: Sequence[str] = ()) -> None:
        super().__init__(workdir)
        self.workers = workers
        self.args = list(args)  # more `tryvoha serve` flags
        self.store = f"sqlite:///{self.dir / 'bench.db'}"
        self.token = ""

    def create_token(self) -> str:
        done = subprocess.run(
            [
                *tryvoha_command(),
                "token",
                "create",
                "--name",
                "bench",
                "--scope",
                "UA",
                "--store",
                self.store,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.dir,
        )
        lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        if done.returncode != 0 or not lines:
            raise ServerError(f"tryvoha token create failed:\n{done.stdout}{done.stderr}")
        self.token = lines[-1]
        return self.token

    async def start(self) -> None:
        if not self.token:
            self.create_token()
        self.port = free_port()
        args = ["--host", HOST, "--port", str(self.port)]
        args += ["--store", self.store, "--log-level", "warning"]
        args += ["--no-standing-alerts"]  # the fan-out declares every oblast: all of them new
        args += NO_CLIENT_LIMITS
        if self.workers != 1:
            args += ["--workers", str(self.workers)]
        try:
            launched = await asyncio.to_thread(
                launch,
                [*args, *self.args],
                cwd=self.dir,
                log=self.log,
                new_session=True,  # its own process group: paused, resumed and stopped as one
                seconds=START_SECONDS,
            )
        except LaunchError as e:
            raise ServerError(str(e)) from None
        self.proc = launched.proc
        deadline = time.monotonic() + START_SECONDS
        # With --workers, the supervisor says it listens once every process is serving.
        await self.wait_http("/api/v1/alerts/active", deadline)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}


def nginx_workers(n: int, cores: int | None = None) -> int:
    """Fair for nginx: one worker per core (what `worker_processes auto` does), raised to
    as many as the open-files limit needs to hold n subscribers."""
    per_worker = max(1000, hard_open_files() - 2000)
    return max(cores or os.cpu_count() or 1, math.ceil(n / per_worker))


class Nginx(Spawned):
    """nginx with nchan: `/sub?id=` (EventSource and WebSocket subscribers), `/pub?id=`,
    and a static tree under `/static/` with nginx's own ETag."""

    name = "nginx+nchan"

    def __init__(self, workdir: Path, workers: int) -> None:
        super().__init__(workdir)
        self.workers = workers
        self.www = self.dir / "www"

    def config(self) -> str:
        d = self.dir
        files = hard_open_files()
        return f"""# generated by bench/servers.py
load_module {NCHAN_MODULE};
worker_processes {self.workers};
worker_rlimit_nofile {files};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections {files - 100};
}}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    client_body_buffer_size 256k;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    open_file_cache max=64 inactive=60s;
    open_file_cache_valid 60s;
    types {{ }}
    default_type application/json;
    server {{
        listen {HOST}:{self.port} reuseport backlog=4096;
        location = /ping {{ return 204; }}
        location = /pub {{
            nchan_publisher;
            nchan_channel_id $arg_id;
            nchan_message_buffer_length 8;
            nchan_message_timeout 10m;
        }}
        location = /sub {{
            nchan_subscriber;
            nchan_channel_id $arg_id;
            nchan_subscriber_first_message newest;
        }}
        location /static/ {{
            root {self.www};
        }}
    }}
}}
"""

    def put_static(self, path: str, body: bytes) -> str:
        """Write a file nginx serves at /static/<path>; returns its URL path."""
        file = self.www / "static" / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(body)
        return f"/static/{path}"

    async def start(self) -> None:
        if not NCHAN_MODULE.exists():
            raise ServerError(f"the nchan module is missing: {NCHAN_MODULE} (make system-bench)")
        (self.dir / "tmp").mkdir(exist_ok=True)
        self.www.mkdir(exist_ok=True)
        self.port = free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(self.config())
        # nginx's workers drop to an unprivileged user when started as root: let them read.
        for path in (self.dir, self.www, *self.www.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        self.spawn([NGINX, "-p", str(self.dir), "-c", str(conf), "-g", "daemon off;"])
        deadline = time.monotonic() + START_SECONDS
        await self.wait_http("/ping", deadline)
        while len(self.memory_pids()) < self.workers and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def memory_pids(self) -> list[int]:
        """nginx's worker processes: they hold the connections (the master holds none)."""
        return procs.children(self.proc.pid) if self.proc is not None else []

    def problems(self) -> list[str]:
        lines = super().problems()
        try:
            text = (self.dir / "error.log").read_text(errors="replace")
        except OSError:
            return lines
        return lines + [line for line in text.splitlines() if PROBLEM.search(line)]
