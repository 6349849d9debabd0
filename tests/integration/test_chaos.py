"""The short chaos run (scripts/chaos --short): faults under ~100 SIGNAL/s, then the table.

Real supervisord, real processes, a tmpfs state dir (mounting it needs root: without it the run
fails with a clear message, it is not skipped). Asserts the same table the script checks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hope.testing import REPO

pytestmark = pytest.mark.integration


@pytest.mark.timeout(330)
def test_short_chaos_run_loses_nothing_and_doubles_nothing(tmp_path):
    """Every fault recovers to /health 200; zero lost, zero duplicates, zero GAP records, one
    DECISION per audited SIGNAL, one ORDER per BUY, and `hope audit verify` passes."""
    out_json = tmp_path / "table.json"
    proc = subprocess.run([sys.executable, "-m", "hope.chaos", "--short", "--json",
                           str(out_json)], cwd=REPO, capture_output=True, text=True, timeout=320)
    report = proc.stdout + proc.stderr
    assert proc.returncode != 3, f"chaos prerequisite missing (tmpfs needs root):\n{report}"
    table = json.loads(out_json.read_text())
    assert table["published_injector"] > 5000, report
    assert table["lost"] == 0, report
    assert table["duplicates"] == 0 and table["seq_duplicates"] == 0, report
    assert table["gap_records"] == 0, report
    assert set(table["decisions_per_signal"]) == {"1"}, report
    assert table["buys"] > 0 and set(table["orders_per_buy"]) == {"1"}, report
    assert table["verify_ok"], report
    assert all(f["recovered"] for f in table["faults"]), report
    assert len(table["faults"]) == 12, report
    assert proc.returncode == 0, report
