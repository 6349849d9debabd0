"""Deliveries per event from per-program bus counts (the bench's fan-out figure)."""

from __future__ import annotations

import json
import time

from hope.bench.deliveries import heartbeat_entry, per_event, wait_counts


def test_per_signal_sums_the_signal_path_and_per_price_only_prices():
    """Heartbeats and watermarks are not on a signal's path; PRICE counts once per reader."""
    counts = {"audit-writer": {"PRICE": 10, "SIGNAL": 10, "DECISION": 10, "HEARTBEAT": 99},
              "executor": {"PRICE": 10, "DECISION": 10, "WATERMARK": 50}}
    r = per_event(counts, signals=10, prices=10)
    assert r["deliveries_per_signal"] == 5.0
    assert r["deliveries_per_price"] == 2.0
    assert r["deliveries"] == {"PRICE": 20, "SIGNAL": 10, "DECISION": 20}


def test_nothing_published_gives_no_figure():
    """No signals or prices: None, not a division by zero."""
    r = per_event({}, signals=0, prices=0)
    assert r["deliveries_per_signal"] is None and r["deliveries_per_price"] is None


def test_wait_counts_wants_a_heartbeat_after_the_mark(tmp_path):
    """Counts are complete only when every service beat after the traffic ended."""
    path = tmp_path / "beats.json"
    ts = "2026-12-01T12:00:00.000000Z"
    entry = heartbeat_entry({"bus": {"received_types": {"PRICE": 3}}}, ts)
    path.write_text(json.dumps({"executor": entry}))
    counts, fresh = wait_counts(path, ("executor",), entry["ts"] - 1, timeout=0)
    assert fresh and counts == {"executor": {"PRICE": 3}}
    started = time.monotonic()
    counts, fresh = wait_counts(path, ("executor", "audit-writer"), entry["ts"], timeout=0.2)
    assert not fresh and counts["audit-writer"] == {}
    assert time.monotonic() - started < 5
