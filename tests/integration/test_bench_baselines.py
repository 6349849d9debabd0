"""scripts/bench's raw baselines are real pipelines: real processes, every message accounted for."""

from __future__ import annotations

from hope.bench.pipeline import FAMILIES, run_raw


def test_raw_fanout_baseline_delivers_every_message_to_its_audit_stage():
    """The raw pipeline with HOPE's topology: every signal ends in an ORDER at the sink, and the
    audit stage received all six event types per signal (warm-up included)."""
    r = run_raw(200, 1.0, warmup_s=0.1, grace_s=5.0, topology="fanout")
    assert r["send_rate"] >= 150 and r["received"] == 200 and r["lost"] == 0
    assert r["audit"] == {t: 220 for t in FAMILIES.values()}


def test_raw_chain_baseline_delivers_every_signal_as_an_order():
    """The issue's 3-stage chain: SIGNAL → DECISION → ORDER, nothing lost, no audit stage."""
    r = run_raw(200, 1.0, warmup_s=0.1, grace_s=5.0, topology="chain")
    assert r["send_rate"] >= 150 and r["received"] == 200 and r["lost"] == 0
    assert "audit" not in r
