"""scripts/bench's raw baselines are real pipelines: real processes, every message accounted for."""

from __future__ import annotations

import pytest

from hope.bench.pipeline import FAMILIES, run_raw

pytestmark = pytest.mark.integration


def test_raw_fanout_baseline_delivers_every_message_to_its_audit_stage():
    """The raw pipeline with HOPE's topology: every signal ends in an ORDER at the sink, and the
    audit stage received all six event types per signal (warm-up included)."""
    r = run_raw(200, 1.0, warmup_s=0.1, grace_s=5.0, topology="fanout")
    assert r["received"] == 200 and r["lost"] == 0
    assert r["audit"] == {t: 220 for t in FAMILIES.values()}
    # deliveries: decision stage 4 types, executor 2, audit all 6 (the sink is the bench's own)
    assert r["deliveries_per_signal"] == 12.0 and r["deliveries_per_price"] == 3.0


def test_raw_chain_baseline_delivers_every_signal_as_an_order():
    """The 3-stage chain (the baseline the latency target is stated against): SIGNAL → DECISION
    → ORDER, nothing lost, no audit stage."""
    r = run_raw(200, 1.0, warmup_s=0.1, grace_s=5.0, topology="chain")
    assert r["received"] == 200 and r["lost"] == 0
    assert "audit" not in r
