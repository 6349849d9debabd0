"""The project's own supervisord.conf, rendered for a temp state dir, supervising the services."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hope.cli import main as hope_main
from hope.supervisor_conf import render
from hope.testing import REPO, wait_for

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
PROGRAMS = ["proxy", "audit-writer", "health-monitor", "dlq-retry", "executor",
            "decision-engine", "gateway", "scanner"]


class Supervisor:
    def __init__(self, state_dir: Path) -> None:
        self.conf = render(state_dir)
        self.env = {**os.environ, "HOPE_STATE_DIR": str(state_dir)}
        self.env.pop("HOPE_CONFIG", None)

    def ctl(self, *args: str) -> str:
        out = subprocess.run([str(BIN / "supervisorctl"), "-c", str(self.conf), *args],
                             capture_output=True, text=True, env=self.env, timeout=30)
        return out.stdout

    def status(self) -> dict[str, tuple[str, int]]:
        result = {}
        for line in self.ctl("status").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                pid = int(parts[3].rstrip(",")) if len(parts) > 3 and parts[2] == "pid" else 0
                result[parts[0]] = (parts[1], pid)
        return result

    def all_running(self) -> bool:
        st = self.status()
        return all(st.get(f"hope:{p}", ("",))[0] == "RUNNING" for p in PROGRAMS)


@pytest.fixture
def supervisor(state_dir: Path) -> Iterator[Supervisor]:
    assert hope_main(["keys", "init", "--state-dir", str(state_dir)]) == 0
    sup = Supervisor(state_dir)
    subprocess.run([str(BIN / "supervisord"), "-c", str(sup.conf)], check=True, env=sup.env,
                   cwd=REPO, timeout=30)
    try:
        yield sup
    finally:
        sup.ctl("shutdown")
        pidfile = state_dir / "run" / "supervisord.pid"
        try:
            wait_for(lambda: not pidfile.exists(), timeout=40, message="supervisord shutdown")
        except AssertionError:
            if pidfile.exists():
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


@pytest.mark.timeout(180)
def test_supervisord_restarts_a_killed_service(supervisor: Supervisor, state_dir: Path):
    """All eight programs run; a SIGKILLed one is RUNNING again with a new pid."""
    wait_for(supervisor.all_running, timeout=60, message="all programs RUNNING")
    assert oct((state_dir / "run").stat().st_mode & 0o777) == "0o700"
    assert oct((state_dir / "run" / "supervisor.sock").stat().st_mode & 0o777) == "0o700"
    _, old_pid = supervisor.status()["hope:executor"]
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: supervisor.status()["hope:executor"][0] == "RUNNING"
             and supervisor.status()["hope:executor"][1] != old_pid,
             timeout=30, message="executor restarted")


def test_bad_config_refuses_to_start_naming_the_key(state_dir: Path, tmp_path: Path):
    """A service given a malformed hope.toml exits 78 and names the file and the key."""
    bad = tmp_path / "hope.toml"
    bad.write_text("[bus]\nhwm = 'many'\n")
    out = subprocess.run([sys.executable, str(REPO / "services" / "executor.py"),
                          "--config", str(bad), "--state-dir", str(state_dir)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 78
    assert "[bus].hwm: expected int" in out.stderr and str(bad) in out.stderr
