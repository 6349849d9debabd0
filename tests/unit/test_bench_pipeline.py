"""The signal → order rows' pieces that need no processes: raw stage rules, the zero-loss verdict."""

from __future__ import annotations

from hope.bench import pipeline
from hope.bench.baseline_peers import HEADER, parse_emit


def test_emit_rules_map_a_trigger_to_sized_messages():
    """Each ``--emit`` spec becomes trigger → [(topic, body of the given size)]."""
    rules = parse_emit(["SIGNAL=DECISION:1678", "DECISION=ORDER:392,FILL:20"])
    assert [(t, len(b)) for t, b in rules[b"SIGNAL"]] == [(b"DECISION", 1678)]
    assert [(t, len(b)) for t, b in rules[b"DECISION"]] == [(b"ORDER", 392), (b"FILL", 20)]


def test_emit_bodies_are_never_smaller_than_the_stamp_header():
    """A tiny size still carries the index and send stamp."""
    assert len(parse_emit(["A=B:1"])[b"A"][0][1]) == HEADER.size


def test_fanout_stages_mirror_hopes_subscriptions():
    """The decision stage hears what the decision engine hears, the executor sends three events
    per decision, and the audit stage subscribes to everything."""
    stages = pipeline._raw_stages("fanout", pipeline.DEFAULT_SIZES, "a.log", "a.counts")
    assert stages["decision"].count("--in-topic") == 4
    assert "DECISION=ORDER:400,FILL:450,CLOSE:520" in stages["executor"]
    assert "--in-topic" not in stages["audit"]
    assert set(pipeline._raw_stages("chain", pipeline.DEFAULT_SIZES, "", "")) == {"b", "c"}


def _raw_run(**over):
    return {"rate": 100, "send_rate": 100, "sent": 100, "lost": 0, "drain_s": 0.1, **over}


def test_zero_loss_names_loss_at_the_audit_stage():
    """A raw run whose audit stage missed messages fails, saying how many."""
    ok, why = pipeline.zero_loss(_raw_run(audit_lost=7), hope=False, seconds=10)
    assert not ok and "7 messages never reached the audit stage" in why


def test_a_slow_audit_log_is_a_backlog_not_a_loss():
    """Delivered on time but the audit log still grew seconds later: reported as a backlog."""
    ok, why = pipeline.zero_loss(_raw_run(audit_drain_s=5.0), hope=False, seconds=10)
    assert not ok and why.startswith("backlog: the audit log grew until 5.0s")
    assert pipeline.zero_loss(_raw_run(audit_drain_s=1.0), hope=False, seconds=10) == (True, "")


def test_seconds_of_queueing_is_not_keeping_up():
    """Nothing lost, but a p99 over a second means the signals queued: the step fails."""
    ok, why = pipeline.zero_loss(_raw_run(p99=2_500_000.0), hope=False, seconds=30)
    assert not ok and why == "queueing: p99 signal→order 2.5s"
    assert pipeline.zero_loss(_raw_run(p99=900_000.0), hope=False, seconds=30)[0]
