"""Start `tryvoha serve` as a child process and wait until it says it listens: the one way
the demo, the tests and the bench do it.

The server prints `tryvoha listening on <url>` once every serving process is ready; until
then the child's output is kept, so a server that fails to start says why. Its output
goes to a file when one is given (the child writes it itself: a benchmark's process does
no work for it), else it is read on a thread into `Launched.output`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

READY = "tryvoha listening on "
POLL_SECONDS = 0.05


class LaunchError(Exception):
    """The server exited, or did not say it listens in time; the message has its last lines."""


@dataclass
class Launched:
    proc: subprocess.Popen[bytes]
    url: str
    output: list[str] = field(default_factory=list)  # lines so far (without a log file)
    reader: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def join_output(self, seconds: float) -> None:
        """Until the child's output has been read to its end (after it exited)."""
        if self.reader is not None:
            self.reader.join(seconds)


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tryvoha", "serve", *args]


def launch(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    new_session: bool = False,
    seconds: float = 60.0,
    output: list[str] | None = None,
) -> Launched:
    """`tryvoha serve ARGS`, once it listens (raises LaunchError otherwise). Its lines go
    to `output` when given (a list kept across restarts), else to a new one."""
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    if log is not None:
        start = log.stat().st_size if log.exists() else 0  # an earlier run's lines are not its
        with log.open("ab") as out:
            proc = subprocess.Popen(
                serve_command(*args),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=child_env,
                start_new_session=new_session,
            )
        try:
            return Launched(proc, _wait_in_file(proc, log, start, seconds))
        except BaseException:  # Ctrl-C while it starts: no server left behind
            _give_up(proc)
            raise
    proc = subprocess.Popen(
        serve_command(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=child_env,
        start_new_session=new_session,
    )
    launched = Launched(proc, "", output if output is not None else [])
    said = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for raw in proc.stdout:
                line = raw.decode(errors="replace")
                launched.output.append(line)
                if line.startswith(READY) and not launched.url:
                    launched.url = line[len(READY) :].strip()
                    said.set()
        said.set()  # the output ended: it exited

    launched.reader = threading.Thread(target=read, daemon=True)
    launched.reader.start()
    try:
        started = said.wait(seconds) and bool(launched.url)
    except BaseException:  # Ctrl-C while it starts: no server left behind
        _give_up(proc)
        raise
    if not started:
        _give_up(proc)
        last = "".join(launched.output[-15:]).strip() or "no output"
        raise LaunchError(f"tryvoha serve did not start: {last}")
    return launched


def _lines_from(log: Path, start: int) -> list[str]:
    with log.open("rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace").splitlines()


def _wait_in_file(proc: subprocess.Popen[bytes], log: Path, start: int, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in _lines_from(log, start):
            if line.startswith(READY):
                return line[len(READY) :].strip()
        if proc.poll() is not None:
            break
        time.sleep(POLL_SECONDS)
    _give_up(proc)
    last = "\n".join(_lines_from(log, start)[-15:]) or "no output"
    raise LaunchError(f"tryvoha serve did not start: {last}")


def _give_up(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
