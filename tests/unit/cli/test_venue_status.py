"""``hope venue status`` shows the venue, the last reconciliation and the breaker."""

from __future__ import annotations

import json

from hope.cli import main
from hope.config import load
from hope.testing import REPO
from hope.venue.status import write_status


def test_status_from_the_executors_file(tmp_path, capsys):
    """The executor's status file is shown; an open breaker exits 1 with its reason."""
    state = tmp_path / "state"
    report = {"passed": False, "wall_ts": 1.0, "resolved": 1, "unknown_orders": [],
              "unresolved": [], "problems": ["balance EVX 10 at the venue is below 81"],
              "balances": [{"asset": "EVX", "venue": 10.0, "positions": 81.0}], "error": None}
    write_status(state / "venue", venue="binance", rest_url="http://127.0.0.1:1",
                 breaker="open", reason="balance EVX 10 at the venue is below 81", report=report)
    assert main(["venue", "status", "--state-dir", str(state)]) == 1
    out = capsys.readouterr().out
    assert "breaker: open (balance EVX" in out and "FAILED" in out and "balance EVX" in out
    assert main(["venue", "status", "--json", "--state-dir", str(state)]) == 1
    assert json.loads(capsys.readouterr().out)["status"]["breaker"]["state"] == "open"


def test_no_live_venue_exits_2(tmp_path, capsys):
    """Without a status file (paper trading) it says so and exits 2."""
    assert main(["venue", "status", "--state-dir", str(tmp_path / "s")]) == 2
    assert "no live venue status" in capsys.readouterr().out


def test_the_rehearsal_config_loads_on_top_of_hope_toml(tmp_path):
    """hope.toml with docs/live-trading.toml.example appended is a valid live config."""
    path = tmp_path / "hope.toml"
    path.write_text((REPO / "hope.toml").read_text()
                    + (REPO / "docs" / "live-trading.toml.example").read_text())
    cfg = load(path, tmp_path / "state")
    assert cfg.execution.exchange == "binance" and cfg.scanner.source == "binance"
    assert cfg.execution.binance.rest_url == "http://127.0.0.1:8600"
