"""What the kernel says about processes and this machine, read from /proc."""

from __future__ import annotations

import hashlib
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PROC = Path("/proc")


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    found: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:
            continue
    return found


def tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        if (PROC / str(p)).exists():
            pids.append(p)
            todo += children(p)
    return pids


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in (PROC / str(pid) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


def cpu_ns(pids: list[int]) -> int:
    """CPU time of every thread of the processes, in nanoseconds (schedstat is exact,
    unlike the 10 ms ticks of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        for stat in (PROC / str(pid) / "task").glob("*/schedstat"):
            try:
                total += int(stat.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


def machine_ms() -> tuple[float, float]:
    """(busy, total) CPU milliseconds of all cores since boot; idle and iowait are not
    busy. Counted in clock ticks (10 ms), so good for windows of a few hundred ms on."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    return (total - fields[3] - fields[4]) * tick_ms, total * tick_ms


def self_cpu_ns() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round((usage.ru_utime + usage.ru_stime) * 1e9)


def other_load(seconds: float = 1.0) -> float:
    """Share of all cores (%) busy over `seconds`, less this process: what other work
    on the machine takes before the bench starts."""
    busy0, total0 = machine_ms()
    own0 = self_cpu_ns()
    time.sleep(seconds)
    busy1, total1 = machine_ms()
    own = (self_cpu_ns() - own0) / 1e6
    total = total1 - total0
    return max(0.0, 100 * (busy1 - busy0 - own) / total) if total else 0.0


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (done.stdout or done.stderr).strip() or "unknown"


def filesystem(path: Path) -> str:
    """The file system type of the mount that holds `path` (ext4, tmpfs, ...)."""
    best, kind = "", "unknown"
    target = str(path.resolve())
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and (
            target == parts[1] or target.startswith(parts[1].rstrip("/") + "/")
        ):
            if len(parts[1]) >= len(best):
                best, kind = parts[1], f"{parts[2]} ({parts[0]} on {parts[1]})"
    return kind


def source_state(repo: Path) -> str:
    """HEAD and a digest of uncommitted changes under src/: tells whether the server under
    test changed while the bench ran (others may work in the same tree)."""
    head = _run(["git", "rev-parse", "HEAD"], repo)
    try:
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "src"], capture_output=True, timeout=30, cwd=repo
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return f"{head}+unknown"
    return f"{head}+{hashlib.sha256(diff).hexdigest()[:12]}" if diff else f"{head}+clean"


def machine(repo: Path, tmp: Path) -> dict[str, Any]:
    commit = _run(["git", "rev-parse", "HEAD"], repo)
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no", "src"], repo)
    limits = _run(["sh", "-c", "ulimit -Hn"])
    return {
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_mib": int(_first("/proc/meminfo", "MemTotal").split()[0]) // 1024
        if _first("/proc/meminfo", "MemTotal") != "unknown"
        else None,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "tryvoha_commit": commit,
        "tryvoha_src_modified": dirty not in ("", "unknown"),
        "tryvoha_source_state": source_state(repo),
        "nginx": _run(["nginx", "-v"]),
        "nchan": _run(["dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-nchan"]),
        "wrk": _run(["wrk", "--version"]).splitlines()[0],
        "open_files_hard_limit": limits,
        "tmp_dir": str(tmp),
        "tmp_filesystem": filesystem(tmp),
    }
