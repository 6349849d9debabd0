"""``hope report`` on a small fixture audit log, including rotated segments and corrupt lines."""

from __future__ import annotations

import json

from hope.audit.reader import LocalAuditReader
from hope.audit.report import format_text, summarize
from hope.cli import main


def rec(etype, eid, payload, **extra):
    return json.dumps({"schema_version": "2.0", "event_type": etype, "event_id": eid,
                       "correlation_id": "c", "timestamp": "2026-01-01T00:00:00.000000Z",
                       "source": "t", "payload": payload, "prev_hash": "0", "hash": "h",
                       **extra}) + "\n"


def fixture(events):
    events.mkdir(parents=True)
    (events / "signals.jsonl").write_text(
        rec("SIGNAL", "s1", {"strategy": "pump"}) + rec("SIGNAL", "s2", {"strategy": "pump"}))
    (events / "signals.000002.jsonl").write_text(
        rec("SIGNAL", "s3", {"strategy": "trend"}) + "{torn line\n")
    (events / "decisions.jsonl").write_text(
        rec("DECISION", "d1", {"action": "BUY"})
        + rec("DECISION", "d2", {"action": "SKIP", "reasons": [
            {"rule": "signal_age", "detail": "stale"}, {"rule": "cooldown", "detail": "x"}]})
        + rec("DECISION", "d3", {"action": "SKIP", "reasons": [
            {"rule": "signal_age", "detail": "stale"}]})
        + rec("DECISION", "d3", {"action": "SKIP", "reasons": [  # a republish: counted once
            {"rule": "signal_age", "detail": "stale"}]}))
    (events / "orders.jsonl").write_text(
        rec("ORDER", "o1", {"order_id": "hope-a", "status": "NEW"})
        + rec("ORDER", "o2", {"order_id": "hope-b", "status": "NEW"})
        + rec("ORDER", "o3", {"order_id": "hope-c", "status": "EXPIRED"}))
    (events / "fills.jsonl").write_text(
        rec("FILL", "f1", {"order_id": "hope-a", "symbol": "EVXBTC", "filled_qty": 10,
                           "avg_price": 1e-4})
        + rec("FILL", "f2", {"order_id": "hope-b", "symbol": "GVTBTC", "filled_qty": 5,
                             "avg_price": 2e-4}))
    (events / "closes.jsonl").write_text(
        rec("CLOSE", "x1", {"order_id": "hope-a", "pnl": 0.0002, "fees": 0.00001,
                            "quote": "BTC", "reason": "take_profit"})
        + "[1, 2]\n")
    (events / "signals_extra.jsonl").write_text(rec("SIGNAL", "zz", {"strategy": "no"}))


def test_summary_counts(tmp_path):
    """Signals per strategy, BUY/SKIP with top reasons, orders by status, P&L, open positions."""
    fixture(tmp_path / "events")
    s = summarize(LocalAuditReader(tmp_path / "events"))
    assert s["signals"] == {"total": 3, "by_strategy": {"pump": 2, "trend": 1}}
    assert s["decisions"]["BUY"] == 1 and s["decisions"]["SKIP"] == 2
    assert s["decisions"]["top_skip_reasons"][0] == ("signal_age", 2)
    assert s["orders"]["by_status"] == {"NEW": 2, "EXPIRED": 1}
    assert s["fills"] == 2
    assert s["pnl"]["BTC"]["pnl"] == 0.0002 and s["pnl"]["BTC"]["fees"] == 0.00001
    assert s["win_rate"] == 1.0
    assert [p["order_id"] for p in s["open_positions"]] == ["hope-b"]


def test_corrupt_lines_are_warned_with_file_and_line(tmp_path):
    """Bad lines are skipped and named file:line."""
    fixture(tmp_path / "events")
    warnings = summarize(LocalAuditReader(tmp_path / "events"))["warnings"]
    assert len(warnings) == 2
    assert any("signals.000002.jsonl:2: not valid JSON" in w for w in warnings)
    assert any("closes.jsonl:2: not a JSON object" in w for w in warnings)


def test_segments_in_order(tmp_path):
    """Segment 1 is family.jsonl, then numbered segments; other families are not mixed in."""
    fixture(tmp_path / "events")
    assert LocalAuditReader(tmp_path / "events").segments("signals") == [
        "signals.jsonl", "signals.000002.jsonl"]


def test_text_report_is_readable(tmp_path):
    """The terminal report names each section and the P&L per quote."""
    fixture(tmp_path / "events")
    text = format_text(summarize(LocalAuditReader(tmp_path / "events")))
    for needle in ("Signals", "BUY 1, SKIP 2", "skip: signal_age", "EXPIRED 1", "BTC",
                   "Open positions: 1", "100%", "Warnings (2"):
        assert needle in text


def test_cli_json_and_missing_log(tmp_path, capsys):
    """``hope report --json`` prints the summary; no audit log is exit 1 with a message."""
    assert main(["report", "--state-dir", str(tmp_path)]) == 1
    assert "no audit log" in capsys.readouterr().err
    fixture(tmp_path / "events")
    assert main(["report", "--json", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["fills"] == 2 and "not valid JSON" in out.err


def test_an_unknown_order_counts_once_by_its_last_status(tmp_path):
    """A live venue's ORDER UNKNOWN then NEW for one order id is one NEW order."""
    events = tmp_path / "events"
    events.mkdir()
    (events / "orders.jsonl").write_text(
        rec("ORDER", "o1", {"order_id": "hope-a", "status": "UNKNOWN"})
        + rec("ORDER", "o2", {"order_id": "hope-a", "status": "NEW"})
        + rec("ORDER", "o3", {"order_id": "hope-b", "status": "UNKNOWN"}))
    s = summarize(LocalAuditReader(events))
    assert s["orders"] == {"total": 2, "by_status": {"NEW": 1, "UNKNOWN": 1}}
