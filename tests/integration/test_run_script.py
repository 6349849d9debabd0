"""``./scripts/run`` as a new user runs it: a fresh copy of the tree, stdin closed, a deadline.

The copy links this checkout's virtual environment (``HOPE_REUSE_VENV=1``: nothing is installed)
and takes free ports (``HOPE_GATEWAY_PORT``, ``HOPE_HEALTH_PORT``, ``HOPE_DASHBOARD_PORT``), so it runs beside any other
instance; its state dir is its own ``state/``. ``./scripts/stop`` in the copy always ends it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hope.testing import REPO, short_tmpdir, wait_for

pytestmark = pytest.mark.integration


def copy_tree(dst: Path) -> None:
    """The files git would give a clone (tracked and new, as they are in the working tree)."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, check=True, timeout=30).stdout
    for name in filter(None, names.decode().split("\0")):
        src = REPO / name
        if src.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    (dst / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Run:
    """``./scripts/run`` in its own session (as a terminal's job), its output collected."""

    def __init__(self, tree: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(["./scripts/run"], cwd=tree, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def events(self, event_type: str) -> list[str]:
        """Lines of the live stream showing an event of this type (topic in the 2nd column)."""
        return [line for line in self.lines
                if len(line.split()) > 1 and line.split()[1].startswith(f"{event_type}.")]

    def ctrl_c(self, timeout: float = 30.0) -> int:
        """SIGINT to the job's process group, as Ctrl-C in a terminal; the exit status."""
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def tree() -> Iterator[Path]:
    root = short_tmpdir("hope-run-")
    dst = root / "hope"
    try:
        copy_tree(dst)
        yield dst
    finally:
        out = None
        if (dst / "scripts" / "stop").exists():
            out = subprocess.run(["./scripts/stop"], cwd=dst, capture_output=True, text=True,
                                 timeout=120, stdin=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)
        assert out is None or out.returncode == 0, out.stdout + out.stderr


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.mark.timeout(420)
def test_run_shows_status_then_live_events_and_ctrl_c_exits_0(tree: Path):
    """./scripts/run prints the status table and live SIGNAL/DECISION lines, exits 0 on Ctrl-C
    with HOPE still running, and a second run starts no second supervisord."""
    gateway_port, health_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("HOPE_STATE_DIR", "HOPE_CONFIG")}
    env.update(HOPE_REUSE_VENV="1", HOPE_GATEWAY_PORT=str(gateway_port),
               HOPE_HEALTH_PORT=str(health_port), HOPE_DASHBOARD_PORT=str(free_port()))
    run = Run(tree, env)
    try:
        # The replay's first pump signals ~5-8 s after start, often before the stream opens
        # (programs count as RUNNING after startsecs=5): the stream starts with the newest
        # audited events (``hope sniff --recent``), so the watcher sees it anyway.
        wait_for(lambda: run.events("SIGNAL") and run.events("DECISION")
                 or run.proc.poll() is not None, timeout=150, interval=0.5,
                 message="SIGNAL and DECISION lines in the live stream")
        assert run.proc.poll() is None, f"./scripts/run ended early:\n{run.text()}"
        assert "hope:scanner" in run.text() and "RUNNING" in run.text()
        assert http_status(health_port, "/health") in (200, 503)
        assert http_status(gateway_port, "/v1/openapi.json") == 200
        assert run.ctrl_c() == 0, run.text()
    finally:
        run.kill()
    pid = (tree / "state" / "run" / "supervisord.pid").read_text().strip()
    again = Run(tree, env)
    try:
        wait_for(lambda: "hope sniff: watching" in again.text() or again.proc.poll() is not None,
                 timeout=120, interval=0.2, message="the second run's live stream")
        assert f"already running (pid {pid})" in again.text(), again.text()
        assert again.ctrl_c() == 0, again.text()
    finally:
        again.kill()
