"""CPU time and resident memory of benchmark processes, from ``/proc/<pid>`` (Linux).

``cpu_s(pid)`` is user + system CPU seconds so far; :class:`CpuWindow` turns two samples of a
set of processes into percent of one core each over the wall time between them; ``rss_mb(pid)``
is the resident set size. A process that has exited reads as None.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_s(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


class CpuWindow:
    """``start()`` then ``stop()``: {name: percent of one core} over the window."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._t0 = 0.0
        self._cpu0: dict[str, float | None] = {}

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._cpu0 = {k: cpu_s(p) for k, p in self.pids.items()}

    def stop(self) -> dict[str, float]:
        wall = max(1e-9, time.monotonic() - self._t0)
        out = {}
        for k, p in self.pids.items():
            a, b = self._cpu0.get(k), cpu_s(p)
            if a is not None and b is not None:
                out[k] = round(100 * (b - a) / wall, 1)
        return out
