"""The chaos table counts lost and doubled events from the ledger and high-water marks, not from
the audit log."""

from __future__ import annotations

import json
from pathlib import Path

from hope.chaos.ledger import read_ledger, scan_audit
from hope.chaos.table import compute
from hope.trading.ids import client_order_id


def write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def rec(eid: str, etype: str, pub: str, seq: int, **kw) -> dict:
    return {"event_id": eid, "event_type": etype, "publisher": pub, "epoch": "e1", "seq": seq,
            "payload": kw.pop("payload", {}), **kw}


def test_lost_doubled_and_per_signal_counts(tmp_path: Path) -> None:
    """A ledger id missing from the audit, a seq below the high-water mark missing, a duplicate
    line, a SIGNAL without DECISION and a BUY without ORDER are each counted."""
    write(tmp_path / "ledger.jsonl", [{"event_id": "s1", "seq": 1}, {"event_id": "s2", "seq": 2},
                                      {"refused": 1}, {"done": 2}])
    events = tmp_path / "events"
    events.mkdir()
    write(events / "signals.jsonl", [rec("s1", "SIGNAL", "inj", 1), rec("s1", "SIGNAL", "inj", 1)])
    write(events / "decisions.jsonl", [
        rec("d1", "DECISION", "de", 1, causation_id="s1", payload={"action": "BUY"}),
        rec("d2", "DECISION", "de", 3, causation_id="sX", payload={"action": "BUY"})])
    write(events / "orders.jsonl", [rec("o1", "ORDER", "ex", 1, payload={
        "order_id": client_order_id("d1"), "status": "NEW"})])
    led = read_ledger(tmp_path / "ledger.jsonl")
    assert led.done and led.refused == 1
    t = compute(led, {"de": {"e1": 3}, "ex": {"e1": 1}}, {}, scan_audit(events), "inj")
    assert t.lost == 2  # s2 from the ledger, decision-engine seq 2 below its mark of 3
    assert t.duplicates == 1 and t.seq_duplicates == 1
    assert t.decisions_per_signal == {1: 1}
    assert t.buys == 2 and t.orders_per_buy == {0: 1, 1: 1}
    assert not t.ok and "lost" in t.render()


def test_a_clean_run_passes(tmp_path: Path) -> None:
    """Everything published audited once, one DECISION per SIGNAL: the table is ok."""
    write(tmp_path / "ledger.jsonl", [{"event_id": "s1", "seq": 1}, {"done": 1}])
    events = tmp_path / "events"
    events.mkdir()
    write(events / "signals.jsonl", [rec("s1", "SIGNAL", "inj", 1)])
    write(events / "decisions.jsonl", [rec("d1", "DECISION", "de", 1, causation_id="s1",
                                           payload={"action": "SKIP"})])
    t = compute(read_ledger(tmp_path / "ledger.jsonl"), {"inj": {"e1": 1}, "de": {"e1": 1}}, {},
                scan_audit(events), "inj")
    t.verify_ok = True
    assert t.ok, t.problems
    assert t.lost == 0 and t.published_injector == 1 and t.published_other == 1
