"""The short live-venue chaos run (scripts/chaos --venue --short): the executor SIGKILLed
before the send, after the send and after the reply (BUYs and an exit), 503 and -1007 replies,
on the stand-in under its replayed pumps; counted from the stand-in's own books."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hope.testing import REPO

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
def test_short_venue_chaos_run_one_order_per_decision_every_fill_once(tmp_path):
    """Every step settles; one venue order per BUY decision and per exit, every venue trade
    once in the audit log, balances equal, nothing received while HALTED or reconciling."""
    out_json = tmp_path / "table.json"
    proc = subprocess.run([sys.executable, "-m", "hope.chaos", "--venue", "--short", "--json",
                           str(out_json)], cwd=REPO, capture_output=True, text=True,
                          timeout=290)
    report = proc.stdout + proc.stderr
    assert out_json.exists(), report
    result = json.loads(out_json.read_text())
    t = result["table"]
    assert [s["step"] for s in result["steps"] if not s["ok"]] == [], report
    assert len(result["steps"]) == 6, report
    assert set(t["venue_orders_per_buy"]) <= {"0", "1"} and t["venue_orders_per_buy"].get("1"), report
    assert set(t["venue_orders_per_exit"]) == {"1"}, report
    assert set(t["trades_audited"]) == {"1"} and not t["trades_missing"], report
    assert not t["trades_phantom"] and not t["stray_orders"], report
    assert not t["positions_lost"] and not t["balance_mismatch"], report
    assert not t["sent_in_windows"] and t["windows"] >= 6, report
    assert result["ok"] and proc.returncode == 0, report
