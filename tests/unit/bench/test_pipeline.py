"""The signal → order rows' pieces that need no processes: raw stage rules, the zero-loss verdict."""

from __future__ import annotations

from hope.bench import pipeline
from hope.bench.baseline_peers import HEADER, parse_emit
from hope.bench.harness import tree_size


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

    def topics(args: list[str]) -> list[str]:
        return [args[i + 1] for i, a in enumerate(args) if a == "--in-topic"]
    assert topics(stages["decision"]) == ["PRICE", "SIGNAL", "ORDER", "CLOSE"]
    assert "SIGNAL=DECISION:1700" in stages["decision"]
    assert topics(stages["executor"]) == ["PRICE", "DECISION"]
    assert "DECISION=ORDER:400,FILL:450,CLOSE:520" in stages["executor"]
    assert topics(stages["audit"]) == [] and "--log" in stages["audit"]
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


def _hope_run(**audit_over):
    audit = {"prices": 10, "signals": 10, "decisions": 10, "orders": 10, "fills": 10,
             "closes": 7, "actions": {"BUY": 10}, "skip_reasons": {}, "gap_records": 0,
             **audit_over}
    return {"rate": 10, "send_rate": 10, "sent": 10, "orders": 10, "missing_orders": 0,
            "statuses": {"NEW": 10}, "drain_s": 0.1, "audit_drain_s": 0.2, "p99": 5000.0,
            "audit": audit, "published": {"signals": 10, "prices": 10}}


def test_a_hope_run_passes_with_every_order_and_fill_audited():
    """Closes of positions still open at the end are not required."""
    assert pipeline.zero_loss(_hope_run(), hope=True, seconds=10) == (True, "")


def test_a_hope_run_fails_on_any_missing_audit_record():
    """Signals, prices, decisions, orders and fills missing from the audit log each fail it."""
    for field, why in (("signals", "audit holds 9 of 10 signals"),
                       ("prices", "audit holds 9 of 10 prices"),
                       ("decisions", "audit holds 9 decisions for 10 signals"),
                       ("orders", "audit holds 9 orders, the sink got 10"),
                       ("fills", "audit holds 9 fills for 10 orders")):
        ok, got = pipeline.zero_loss(_hope_run(**{field: 9}), hope=True, seconds=10)
        assert not ok and why in got, field


def test_a_hope_run_fails_on_gaps_and_skips():
    """A GAP record or a SKIP (the bench config BUYs every signal) is a failure."""
    assert "1 GAP records" in pipeline.zero_loss(_hope_run(gap_records=1), True, 10)[1]
    run = _hope_run(actions={"BUY": 9, "SKIP": 1}, skip_reasons={"market_data": 1})
    assert "1 SKIPs" in pipeline.zero_loss(run, True, 10)[1]


def test_missing_audit_counts_count_as_nothing_received(tmp_path):
    """A raw audit stage that left no (or a broken) counts file lost every message."""
    assert pipeline.read_counts(tmp_path / "absent") == {}
    (tmp_path / "torn").write_text('{"PRICE": 3')
    assert pipeline.read_counts(tmp_path / "torn") == {}
    assert pipeline.audit_shortfall({}, 5) == 30
    assert pipeline.audit_shortfall({"PRICE": 5, "SIGNAL": 4}, 5) == 21


def test_tree_size_adds_up_a_file_or_a_tree_and_reads_absent_as_zero(tmp_path):
    """The audit-backlog wait measures bytes under the events dir."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"12345")
    (tmp_path / "y").write_bytes(b"123")
    assert tree_size(tmp_path) == 8
    assert tree_size(tmp_path / "y") == 3
    assert tree_size(tmp_path / "absent") == 0
