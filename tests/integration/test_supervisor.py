"""The project's own supervisord.conf, rendered for a temp state dir, supervising the services."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hope.supervisor_conf import program_command
from hope.testing import Supervisord, wait_for

pytestmark = pytest.mark.integration
PROGRAMS = ["proxy", "audit-writer", "health-monitor", "dlq-retry", "executor",
            "decision-engine", "gateway", "dashboard", "scanner"]


@pytest.mark.timeout(180)
def test_supervisord_restarts_a_killed_service(supervisor: Supervisord, state_dir: Path):
    """All nine programs run; a SIGKILLed one is RUNNING again with a new pid."""
    wait_for(lambda: supervisor.running(PROGRAMS), timeout=60, message="all programs RUNNING")
    assert oct((state_dir / "run").stat().st_mode & 0o777) == "0o700"
    assert oct((state_dir / "run" / "supervisor.sock").stat().st_mode & 0o777) == "0o700"
    old_pid = supervisor.running_pid("executor")
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: supervisor.status()["executor"][0] == "RUNNING"
             and supervisor.status()["executor"][1] != old_pid,
             timeout=30, message="executor restarted")


def test_bad_config_refuses_to_start_naming_the_key(state_dir: Path, tmp_path: Path):
    """A service given a malformed hope.toml exits 78 and names the file and the key."""
    bad = tmp_path / "hope.toml"
    bad.write_text("[bus]\nhwm = 'many'\n")
    out = subprocess.run([sys.executable, *program_command("executor"),
                          "--config", str(bad), "--state-dir", str(state_dir)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 78
    assert "[bus].hwm: expected int" in out.stderr and str(bad) in out.stderr
