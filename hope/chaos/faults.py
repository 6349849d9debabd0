"""Faults, injected through supervisord and signals, and the recovery measurement after each.

Recovery of a fault = the time from injecting it until ``/health`` answers 200 again with every
faulted program RUNNING under a new pid that has heartbeated to the health monitor (so a restart
that supervisord did but that never came back to life does not count as recovered).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hope.chaos.table import FaultResult
from hope.testing import Supervisord

BIN = Path(sys.executable).parent
PROGRAMS = ["proxy", "audit-writer", "scanner", "decision-engine", "executor", "dlq-retry",
            "health-monitor"]


class Supervisor(Supervisord):
    """supervisord for the chaos run; tracks every pid seen per program (restarts)."""

    def __init__(self, state_dir: Path, env: dict[str, str]) -> None:
        super().__init__(state_dir, env)
        self.pids: dict[str, set[int]] = {p: set() for p in PROGRAMS}

    def status(self) -> dict[str, tuple[str, int]]:
        result = super().status()
        for name, (_, pid) in result.items():
            if pid and name in self.pids:
                self.pids[name].add(pid)
        return result

    def restarts(self) -> dict[str, int]:
        return {p: len(s) - 1 for p, s in self.pids.items() if len(s) > 1}

    def all_running(self) -> bool:
        return self.running(PROGRAMS)


def read_registry(state_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((state_dir / "run" / "registry.json").read_text())
    except (OSError, ValueError):
        return {}


def health_status(state_dir: Path) -> int:
    """HTTP status of /health on the port the health monitor wrote to the registry (0: none)."""
    port = (read_registry(state_dir).get("monitor") or {}).get("http_port")
    if not port:
        return 0
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1.0) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


class Faults:
    """Each method injects one fault and returns its FaultResult once recovered (or timed out)."""

    def __init__(self, sup: Supervisor, state_dir: Path, *, recovery_timeout: float = 60.0,
                 poll: Callable[[], None] = lambda: None, log: Callable[[str], None] = print):
        self.sup = sup
        self.state_dir = state_dir
        self.recovery_timeout = recovery_timeout
        self.poll = poll    # called while waiting (the runner scans outboxes there)
        self.log = log

    # --- recovery ----------------------------------------------------------------------
    def _back(self, programs: list[str], old: dict[str, int]) -> bool:
        st = self.sup.status()
        services = read_registry(self.state_dir).get("services", {})
        for p in programs:
            state, pid = st.get(p, ("", 0))
            if state != "RUNNING" or pid == old.get(p):
                return False
            if p != "health-monitor" and (services.get(p) or {}).get("pid") != pid:
                return False  # restarted, but not yet heartbeating
        return health_status(self.state_dir) == 200

    def _wait(self, name: str, detail: str, programs: list[str], old: dict[str, int],
              t0: float, extra: Callable[[], bool] = lambda: True) -> FaultResult:
        res = FaultResult(name, detail)
        deadline = t0 + self.recovery_timeout
        while time.monotonic() < deadline:
            if health_status(self.state_dir) == 503:
                res.health_503_seen = True
            if self._back(programs, old) and extra():
                res.recovered, res.recovery_s = True, time.monotonic() - t0
                break
            self.poll()
            time.sleep(0.2)
        self.log(f"fault {name}: " + (f"recovered in {res.recovery_s:.1f}s" if res.recovered
                                      else f"NOT recovered within {self.recovery_timeout:g}s"))
        return res

    def _pids(self) -> dict[str, int]:
        return {p: pid for p, (_, pid) in self.sup.status().items()}

    # --- faults ------------------------------------------------------------------------
    def kill(self, *programs: str) -> FaultResult:
        """SIGKILL the programs at once (their process groups: no cleanup of any kind)."""
        old = self._pids()
        t0 = time.monotonic()
        for p in programs:
            if old.get(p):
                os.killpg(old[p], signal.SIGKILL) if _is_group_leader(old[p]) \
                    else os.kill(old[p], signal.SIGKILL)
        name = "SIGKILL " + "+".join(programs)
        return self._wait(name, f"pids {[old.get(p) for p in programs]}", list(programs), old, t0)

    def hang(self, program: str, hold_s: float) -> FaultResult:
        """SIGSTOP a program and leave it to the health monitor: it must notice the missing
        heartbeats and have supervisord restart it. If it has not after ``hold_s`` plus the
        recovery timeout, we SIGCONT it ourselves and report the fault as not recovered."""
        old = self._pids()
        if not old.get(program):  # never signal pid 0: that is our own process group
            old[program] = self.sup.running_pid(program)
        t0 = time.monotonic()
        os.kill(old[program], signal.SIGSTOP)
        res = self._wait(f"SIGSTOP {program} (hang)", f"pid {old[program]}, health monitor "
                         "must restart it", [program], old, t0)
        try:
            os.kill(old[program], signal.SIGCONT)  # harmless if it is gone already
        except ProcessLookupError:
            pass
        return res

    def restart_proxy(self) -> FaultResult:
        """A graceful proxy restart through supervisord while everything is publishing."""
        old = self._pids()
        t0 = time.monotonic()
        out = self.sup.ctl("restart", "hope:proxy").strip().replace("\n", "; ")
        return self._wait("restart proxy (supervisorctl)", out, ["proxy"], old, t0)

    def fill_disk(self, hold_s: float) -> FaultResult:
        """Fill the state dir's filesystem to the last byte, hold, then free it. Recovery: the
        audit writer reports its disk no longer full and /health is 200."""
        filler = self.state_dir / "chaos-fill.bin"
        t0 = time.monotonic()
        written = 0
        chunk = b"\0" * (1 << 20)
        try:
            with open(filler, "wb") as fh:
                while True:
                    try:
                        fh.write(chunk)
                        fh.flush()
                        written += len(chunk)
                    except OSError:
                        break
                small = b"\0" * 4096
                while True:
                    try:
                        fh.write(small)
                        fh.flush()
                        written += len(small)
                    except OSError:
                        break
        except OSError:
            pass
        self.log(f"fault disk full: wrote {written >> 20} MiB, holding {hold_s:g}s")
        seen_full = False
        end = time.monotonic() + hold_s
        while time.monotonic() < end:
            seen_full = seen_full or _audit_disk_full(self.state_dir)
            self.poll()
            time.sleep(0.2)
        filler.unlink(missing_ok=True)
        res = self._wait("disk full (tmpfs), then freed",
                         f"filled {written >> 20} MiB for {hold_s:g}s; audit writer reported "
                         f"disk_full: {seen_full}", [], {}, t0,
                         extra=lambda: not _audit_disk_full(self.state_dir))
        return res


def _is_group_leader(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _audit_disk_full(state_dir: Path) -> bool:
    entry = (read_registry(state_dir).get("services") or {}).get("audit-writer") or {}
    audit = (entry.get("progress") or {}).get("audit") or {}
    return bool(audit.get("disk_full"))
