"""py-spy on the tryvoha server during the timed rounds (`--profile`): where its CPU goes.

Sampling costs CPU on the same cores, so the timings of a profiled run are perturbed;
the results note that they were profiled.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import TracebackType

RATE_HZ = 250
STARTUP_SECONDS = 1.5
STOP_SECONDS = 20.0


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """Records the process and its subprocesses as collapsed stacks into
    `<results>/profiles/<name>.txt`."""

    def __init__(self, pid: int, results: Path, name: str) -> None:
        self.pid = pid
        self.out = results / "profiles" / f"{name}.txt"
        self.proc: subprocess.Popen[bytes] | None = None
        self.error: str | None = None

    def __enter__(self) -> Profiler:
        exe = py_spy()
        if exe is None:
            self.error = "py-spy is not installed (.venv/bin/pip install py-spy)"
            return self
        self.out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [exe, "record", "--pid", str(self.pid), "--subprocesses", "--rate", str(RATE_HZ)]
        cmd += ["--format", "raw", "--nonblocking", "--output", str(self.out)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(STARTUP_SECONDS)  # py-spy attaches before the first round
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            self.error = f"py-spy exited: {err.strip()[:300]}"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ValueError, OSError):
            if proc.stderr is not None:
                proc.stderr.close()

    def summary(self, top: int = 25) -> str:
        if self.error is not None:
            return self.error
        try:
            lines = self.out.read_text().splitlines()
        except OSError as e:
            return f"no profile: {e}"
        return summarize(lines, top) + f"\n(collapsed stacks: {self.out})"


def _function(frame: str) -> str:
    """`name (path/file.py:123)` -> `name (path/file.py)`."""
    head, _, place = frame.rpartition(" (")
    return f"{head} ({place.split(':')[0].rstrip(')')})" if head else frame


def summarize(collapsed: list[str], top: int = 25) -> str:
    """The functions with the most samples on top of the stack (self) and anywhere on it
    (inclusive), as shares of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";") if f]
        total += count
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if not total:
        return "no samples"
    out = [f"{total} samples at {RATE_HZ} Hz", "self:"]
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in own.most_common(top)]
    out.append("inclusive:")
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in inclusive.most_common(top)]
    return "\n".join(out)
