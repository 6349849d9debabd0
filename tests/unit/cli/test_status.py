"""Tests for hope.cli.status: reading the registry."""

import json
import time

from hope.cli import main
from hope.cli.status import format_table
from hope.health.registry import Registry


def _write(state, statuses, beat_age=1.0):
    reg = Registry()
    for name, status in statuses.items():
        e = reg.observe({"service": name, "pid": 100, "version": "0.1"}, time.time() - beat_age)
        e.status = status
    reg.write(state / "run" / "registry.json", {"monitor": {"http_port": 8470}})


def _run(state, *argv):
    return main(["status", *argv, "--state-dir", str(state), "--config", "/dev/null"])


REQUIRED = ["audit-writer", "scanner", "decision-engine", "executor", "dlq-retry"]


def test_all_required_up_exits_0_and_prints_table(tmp_path, capsys):
    """With every required service UP the table lists them and the exit code is 0."""
    _write(tmp_path, dict.fromkeys(REQUIRED, "UP"))
    assert _run(tmp_path) == 0
    out = capsys.readouterr().out
    assert "scanner" in out and "UP" in out and "8470" in out


def test_one_down_exits_1(tmp_path, capsys):
    """A required service that is HUNG makes the exit code 1."""
    _write(tmp_path, {**dict.fromkeys(REQUIRED, "UP"), "executor": "HUNG"})
    assert _run(tmp_path) == 1
    assert "HUNG" in capsys.readouterr().out


def test_stale_registry_is_flagged(tmp_path, capsys):
    """An UP entry whose last beat is long past shows as STALE in --json."""
    _write(tmp_path, dict.fromkeys(REQUIRED, "UP"), beat_age=3600.0)
    assert _run(tmp_path, "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["services"]["scanner"]["effective_status"] == "STALE"


def test_missing_registry_is_a_clear_error(tmp_path, capsys):
    """Without a registry the command says where it looked and exits 1."""
    assert _run(tmp_path) == 1
    assert "registry.json" in capsys.readouterr().err


def test_status_shows_the_audit_logs_disk_usage():
    """The audit writer's heartbeat disk figures appear under the table."""
    data = {"services": {"audit-writer": {"status": "UP", "progress": {"audit": {
        "disk_bytes": 2_500_000_000, "disk_budget_bytes": 10_000_000_000, "disk_percent": 25.0,
        "archived": 3}}}}}
    out = format_table(data, time.time(), 10.0)
    assert "audit-writer: events/ 2.5 GB of 10.0 GB (25.0 %), 3 segments archived" in out


def test_status_shows_each_principal_and_the_single_user_mode():
    """Each service's OS user and key ids (heartbeat first, else the enrolled CURVE key), and
    the instance's mode: one user for everything unless privilege separation is on."""
    data = {"services": {
        "executor": {"status": "UP", "last_beat": 1.0,
                     "progress": {"user": "root", "curve_key": "curve:aaaa"}},
        "scanner": {"status": "UP", "last_beat": 1.0, "progress": {"user": "root"}}},
        "instance": {"privilege_separation": False, "mode": "single user", "user": "root"}}
    text = format_table(data, 1.0, 5.0, {"scanner": "curve:bbbb"})
    assert "executor                 root                         curve=curve:aaaa" in text
    assert "scanner                  root                         curve=curve:bbbb (enrolled)" in text
    assert "instance: runs as a single user (root)" in text
