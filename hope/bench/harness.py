"""One benchmark run's processes: a short temp dir (state + config), peers, waits, teardown.

A run never outlives its ``with Harness(...)`` block: every process it started is killed (by its
own process group) and the temp dir removed on the way out, also on error or Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from hope.eventauth.keys import ENROL_ENV
from hope.testing import Processes, short_tmpdir

BASE_TOML = """
[hope]
log_level = "info"

[bus]
transport = "ipc"
"""


class BenchError(RuntimeError):
    """A run that could not be measured (a peer failed to start, a deadline passed)."""


class Harness:
    def __init__(self, name: str, toml: str = "", env: dict[str, str] | None = None,
                 keep: bool = False, root: str | None = None,
                 authenticate: bool = True) -> None:
        self.name = name
        # root: where the state dir lives (e.g. /dev/shm to take the disk out of the figure)
        self.dir = Path(tempfile.mkdtemp(dir=root, prefix=f"hb-{name}-")) if root \
            else short_tmpdir(f"hb-{name}-")
        self.config = self.dir / "bench.toml"
        # authenticate = false: the unauthenticated baseline of rows 1 and 2 (ipc only)
        self.config.write_text(BASE_TOML + ("" if authenticate else "authenticate = false\n")
                               + toml)
        # bench peers run under names of their own: each enrols its event key on first use
        self.procs = Processes(self.dir, env={"HOPE_CONFIG": str(self.config), ENROL_ENV: "1",
                                              **(env or {})})
        self.keep = keep or bool(os.environ.get("HOPE_BENCH_KEEP"))

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.procs.kill_all()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def ipc(self, name: str) -> str:
        return f"ipc://{self.dir}/{name}"

    # starting -------------------------------------------------------------------------------
    def peer(self, key: str, *args: str, wrap: tuple[str, ...] = ()) -> subprocess.Popen:
        return self.procs.start(key, ["-m", "hope.bench.peers", *args], wrap)

    def service(self, key: str, module: str) -> subprocess.Popen:
        return self.procs.service(key, module)

    # waiting --------------------------------------------------------------------------------
    def wait(self, what: str, predicate: Any, timeout: float, watch: tuple[str, ...] = ()) -> Any:
        """Poll ``predicate`` until truthy; fail naming ``what`` and the log tail of any watched
        process that died meanwhile, or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            for key in watch:
                proc = self.procs.procs[key]
                if proc.poll() is not None:
                    raise BenchError(f"{self.name}: {key} exited with {proc.returncode} while "
                                     f"waiting for {what}:\n{self.tail(key)}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name}: timed out after {timeout:g}s waiting for {what}"
                                 + "".join(f"\n--- {k}:\n{self.tail(k)}" for k in watch))
            time.sleep(0.05)

    def wait_file(self, path: str, timeout: float, *watch: str) -> None:
        self.wait(os.path.basename(path), lambda: os.path.exists(path), timeout, watch)

    def wait_log(self, key: str, text: str, timeout: float = 30.0) -> None:
        self.wait(f"{key} to log {text!r}", lambda: text in self.procs.log_text(key), timeout,
                  (key,))

    def wait_exit(self, key: str, timeout: float) -> int:
        proc = self.procs.procs[key]
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{self.name}: {key} still running after {timeout:g}s:\n"
                             f"{self.tail(key)}") from None

    def drain(self, path: str, expected: int, idle_s: float, limit_s: float) -> dict[str, Any]:
        """Wait until ``path`` has ``expected`` lines, or none arrived for ``idle_s``, or
        ``limit_s`` passed. Returns lines seen and seconds taken."""
        n, _, waited = _poll(lambda: count_lines(path), idle_s, limit_s,
                             enough=lambda n: n >= expected)
        return {"lines": n, "waited_s": round(waited, 3), "complete": n >= expected}

    def wait_quiet(self, path: Path | str, idle_s: float, limit_s: float) -> float:
        """Wait until the bytes under ``path`` (a file or a directory tree) stop growing for
        ``idle_s``, or ``limit_s`` passed; returns seconds until the last growth (a writer's
        backlog after the sender stopped)."""
        _, changed, _ = _poll(lambda: tree_size(Path(path)), idle_s, limit_s)
        return round(changed, 3)

    def stop(self, *keys: str, timeout: float = 20.0) -> None:
        """SIGTERM each (in order) and wait for it: receivers flush, the audit writer seals."""
        for key in keys:
            proc = self.procs.procs.get(key)
            if proc is not None and proc.poll() is None:
                try:
                    self.procs.stop(key, timeout)
                except subprocess.TimeoutExpired:
                    self.procs.kill(key)

    def tail(self, key: str, lines: int = 15) -> str:
        return "\n".join(self.procs.log_text(key).splitlines()[-lines:])


def _poll(measure: Any, idle_s: float, limit_s: float, enough: Any = None
          ) -> tuple[Any, float, float]:
    """Poll ``measure()`` every 50 ms until ``enough(value)``, or the value has not changed for
    ``idle_s``, or ``limit_s`` passed: (last value, seconds until its last change, seconds
    waited)."""
    t0 = time.monotonic()
    last, last_change = None, t0
    while True:
        value = measure()
        now = time.monotonic()
        if value != last:
            last, last_change = value, now
        if (enough and enough(value)) or now - last_change >= idle_s or now - t0 >= limit_s:
            return value, last_change - t0, now - t0
        time.sleep(0.05)


def tree_size(path: Path) -> int:
    """Bytes in a file or a directory tree (0 when absent); files and directories that vanish
    while we look (a checkpoint replaced, a segment rotated) are skipped."""
    try:
        if path.is_file():
            return path.stat().st_size
    except FileNotFoundError:
        return 0
    total = 0
    for root, _dirs, files in os.walk(path, onerror=lambda _exc: None):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def count_lines(path: str) -> int:
    try:
        with open(path, "rb") as fh:
            return fh.read().count(b"\n")
    except FileNotFoundError:
        return 0


def read_triples(path: str) -> list[tuple[int, int, int]]:
    """``<i> <sent_ns> <received_ns>`` lines (a torn last line is ignored)."""
    out = []
    try:
        with open(path) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 3:
                    out.append((int(parts[0]), int(parts[1]), int(parts[2])))
    except FileNotFoundError:
        pass
    return out


def latencies(triples: list[tuple[int, int, int]], warmup: int, count: int
              ) -> tuple[list[int], dict[str, int]]:
    """Latency samples of measured messages (index >= warmup), first copy of each; plus counts
    of what was lost and duplicated."""
    seen: set[int] = set()
    samples: list[int] = []
    dups = 0
    for i, sent, recv in triples:
        if i < warmup:
            continue
        if i in seen:
            dups += 1
            continue
        seen.add(i)
        samples.append(recv - sent)
    return samples, {"sent": count, "received": len(seen), "lost": count - len(seen),
                     "duplicates": dups}
