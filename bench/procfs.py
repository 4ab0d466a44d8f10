"""Linux /proc readings: a process tree, which process holds a listening port, resident memory and CPU time."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

_PROC = Path("/proc")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def rss_kib(pid: int) -> int | None:
    """VmRSS of one process in KiB, or None once it has gone."""
    status = _read(_PROC / str(pid) / "status")
    if status is None:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def _stat_fields(pid: int) -> list[str] | None:
    stat = _read(_PROC / str(pid) / "stat")
    if stat is None:
        return None
    return stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses


def descendants(root: int) -> list[int]:
    """`root` and every process below it (one /proc scan)."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time used so far by the given processes."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        for line in (_read(_PROC / "net" / table) or "").splitlines()[1:]:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def listener_pid(root: int, port: int) -> int | None:
    """The process under `root` that holds the socket listening on `port` (the one that serves requests)."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    for pid in descendants(root):
        try:
            fds = list((_PROC / str(pid) / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in wanted:
                    return pid
            except OSError:
                continue
    return None


class RssSampler:
    """Samples one process's VmRSS every `interval` seconds in a thread and keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"rss-{pid}", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            value = rss_kib(self.pid)
            if value is None:
                return
            self.peak_kib = max(self.peak_kib, value)
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak_kib = rss_kib(self.pid) or 0
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak_kib = max(self.peak_kib, rss_kib(self.pid) or 0)
