"""scripts/soak's plumbing in a few seconds: the live programs start, the load runs, the report
has RSS per program at start and end and a backlog that the audit log catches up with."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hope.bench.live import SERVICES
from hope.testing import short_tmpdir

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_soak_script_reports_rss_and_backlog_per_program():
    """A 3-second soak: exit 0 or 1 (a verdict, not a crash), every program sampled at start
    and end, PRICEs published and every one of them in the audit log once it stopped."""
    root = short_tmpdir("hope-soak-")
    try:
        out = root / "soak.json"
        proc = subprocess.run([str(REPO / "scripts" / "soak"), "--minutes", "0.05", "--rate",
                               "200", "--sample-s", "1", "--state-dir", str(root), "--out",
                               str(out)], capture_output=True, text=True, timeout=170)
        assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
        report = json.loads(out.read_text())
        programs = {"proxy", *(key for key, _ in SERVICES)}
        assert set(report["rss_mb"]) == programs
        assert all(v["start"] and v["end"] for v in report["rss_mb"].values())
        assert report["samples"] and report["exited"] == []
        last = report["samples"][-1]
        assert last["published_prices"] > 0
        assert report["final_audited_prices"] >= last["published_prices"]
        assert "RSS MB at start" in proc.stdout
        assert list((root / "bench").glob("soak-*.json"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
