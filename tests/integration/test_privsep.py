"""Privilege separation under a real supervisord (root): every program runs as its own user,
the gateway's user cannot read another service's key (EACCES), and the system still trades a
signal end to end. The users are created for the test and removed in ``finally``."""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from hope.cli import main as hope_main
from hope.config import load
from hope.principals import os_user, principals
from hope.privsep import as_user, remove_accounts, run_as, setup
from hope.testing import (
    REPO,
    Supervisord,
    audit_records,
    shared_python,
    short_tmpdir,
    wait_for,
)
from hope.trading.state import ACTIVE, TradingStateStore

pytestmark = pytest.mark.integration

PROGRAMS = ["proxy", "audit-writer", "health-monitor", "executor", "decision-engine", "scanner",
            "gateway", "dashboard"]
PUMP_FILE = REPO / "data" / "binance_pump_trades_NASBTC_2021-01-14T2100Z.csv.gz"
CONFIG = """\
[hope]
privilege_separation = true
[audit]
trusted_keys = [{keys}]
[health]
required = []
[scanner]
strategies = ["pump"]
[scanner.replay]
files = ["{file}"]
speed = 10.0
start_before_pump_s = 20.0
episode_s = 120.0
warmup_s = 600.0
[decision]
strategies_allowed = ["pump"]
min_buys_per_sec = 1.0
min_delta_pct = 2.0
cooldown_s = 0.0
"""


def decisions_seen(state: Path) -> str:
    """What the audit log says about trading so far: SIGNALs, DECISIONs by action, and the
    reasons given for the last few, for a failure's message."""
    decisions = audit_records(state, "decisions")
    actions = Counter(str(r["payload"].get("action")) for r in decisions)
    reasons = [r["payload"].get("reasons") for r in decisions[-3:]]
    return (f"{len(audit_records(state, 'signals'))} SIGNALs, DECISIONs {dict(actions)}, "
            f"last reasons {reasons}, ORDERs {len(audit_records(state, 'orders'))}")


def uid_of(pid: int) -> int:
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))


def read_as(python: Path, principal: str, path: str) -> subprocess.CompletedProcess:
    """Read ``path`` in a process running as the principal's user, with its groups."""
    return subprocess.run([str(python), "-c", "import sys; open(sys.argv[1]).read()", path],
                          **as_user(principal), capture_output=True, text=True, timeout=30,
                          cwd="/")


@pytest.mark.timeout(150)
def test_each_program_runs_as_its_own_user_and_reads_only_its_own_keys(monkeypatch):
    """Under privilege_separation each program runs as hope-<program>; the gateway's user gets
    EACCES on the executor's CURVE key and the audit signing key, reads its own, and a pump
    SIGNAL still becomes a DECISION, an ORDER and a FILL."""
    assert os.geteuid() == 0, "privilege separation needs root (CI runs as root)"
    state = short_tmpdir("hope-ps-")
    config, pins = state / "hope.toml", state / "hope.local.toml"
    monkeypatch.setenv("HOPE_PINS_FILE", str(pins))
    config.write_text(CONFIG.format(keys="", file=PUMP_FILE))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert hope_main(["keys", "init", "--state-dir", str(state), "--config", str(config)]) == 0
    key = re.search(r"key id: (ed25519:[0-9a-f]+)", out.getvalue()).group(1)
    config.write_text(CONFIG.format(keys=f'"{key}"', file=PUMP_FILE))
    os.chmod(config, 0o644)
    cfg = load(config, state)
    TradingStateStore(cfg.state.trading_state).save(ACTIVE, changed_by="test")
    # This interpreter may live in a private home (/root/.pyenv): the programs get one the
    # service users can run, with the same packages.
    python = shared_python(state / "python")
    sup = Supervisord(state, env={"HOPE_CONFIG": str(config), "HOPE_PINS_FILE": str(pins)},
                      programs=PROGRAMS, run_as=run_as(), python=str(python))
    try:
        setup(cfg, pins, python=str(python))
        assert pins.stat().st_uid == 0 and pins.stat().st_mode & 0o777 == 0o644
        sup.start()
        wait_for(lambda: sup.running(PROGRAMS), timeout=60, message="every program RUNNING")
        for program, (_, pid) in sup.status().items():
            assert uid_of(pid) == pwd.getpwnam(os_user(program)).pw_uid, program
        executor_key = str(state / "keys" / "executor" / "curve.key_secret")
        denied = read_as(python, "gateway", executor_key)
        assert denied.returncode != 0 and "[Errno 13] Permission denied" in denied.stderr
        audit_key = read_as(python, "gateway", str(state / "keys" / "audit-writer" / "audit.key"))
        assert "[Errno 13] Permission denied" in audit_key.stderr
        assert read_as(python, "gateway",
                       str(state / "keys" / "gateway" / "curve.key_secret")).returncode == 0
        assert read_as(python, "executor", executor_key).returncode == 0
        try:
            wait_for(lambda: any(r["payload"].get("status") == "NEW"
                                 for r in audit_records(state, "orders")),
                     timeout=90, message="a pump SIGNAL traded: ORDER NEW")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {decisions_seen(state)}") from None
        wait_for(lambda: audit_records(state, "fills"), timeout=30, message="its FILL")
        assert {r["source"] for r in audit_records(state, "decisions")} == {"decision-engine"}

        def status() -> str:
            return subprocess.run([str(REPO / ".venv" / "bin" / "hope"), "status", "--state-dir",
                                   str(state), "--config", str(config)], capture_output=True,
                                  text=True, timeout=30).stdout

        shown = wait_for(lambda: (out := status()) and re.search(
            r"^executor\s+hope-executor\s+curve=curve:[0-9a-f]{16}", out, re.M) and out, timeout=20,
            message="hope status: the executor's principal")
        assert "instance: one OS user per program" in shown
        # the health monitor reaches supervisord's socket (it restarts programs); the dashboard
        # reads the gateway's read-scope token (shared through its group)
        assert "supervisor_unreachable" not in (state / "logs" / "health-monitor.log").read_text()
        assert "Permission denied" not in (state / "logs" / "dashboard.log").read_text()
    finally:
        sup.shutdown()
        remove_accounts(principals())
        shutil.rmtree(state, ignore_errors=True)
