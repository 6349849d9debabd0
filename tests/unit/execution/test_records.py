"""Typed ledger records: old ledgers load and reconcile, a bad record is quarantined, not fatal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hope.clock import ManualClock, MarketClock
from hope.envelope import Envelope, new_event
from hope.execution.breaker import CircuitBreaker
from hope.execution.config import ExecutionConfig
from hope.execution.exchange import PaperExchange
from hope.execution.executor import Executor
from hope.execution.positions import ExecutorStore
from hope.execution.records import (
    QUARANTINED,
    Closing,
    FinishedOrder,
    PendingOrder,
    Position,
)
from hope.trading.ids import client_order_id

LEDGER_V1 = Path(__file__).resolve().parents[2] / "fixtures" / "ledger_v1"
T0 = 1_610_226_000.0
SYMBOLS = ("EVXBTC", "GVTBTC", "POABTC")


def old_ledger(tmp_path: Path) -> Path:
    root = tmp_path / "st"
    shutil.copytree(LEDGER_V1, root, ignore=shutil.ignore_patterns("README.md"))
    return root


async def publish(event_type, payload, parent, timestamp):
    env = new_event(event_type, payload, source="executor", parent=parent, timestamp=timestamp)
    published.append(env)
    return env


published: list[Envelope] = []


@pytest.fixture(autouse=True)
def _clear():
    published.clear()


def executor(root: Path) -> Executor:
    exchange = PaperExchange(root / "exchange", slippage_bps=0, commission_bps=10)
    store = ExecutorStore(root / "positions", quarantine_dir=root / "quarantine")
    breaker = CircuitBreaker("exchange", clock=ManualClock())
    ex = Executor(ExecutionConfig(), exchange, store, breaker, market_clock=MarketClock())
    ex.market_clock.observe(T0 + 1)  # as the market-clock middleware would
    for symbol in SYMBOLS:
        ex.on_price(symbol, 1e-5, T0 + 1)
    return ex


def by_symbol(store: ExecutorStore) -> dict[str, object]:
    out = {}
    for rec in store.orders.values():
        if isinstance(rec, PendingOrder):
            out[rec.decision.payload["symbol"]] = rec
    return out


def test_a_ledger_in_the_old_format_loads_typed(tmp_path):
    """The dict-era snapshot and journal load into typed records, nothing quarantined."""
    store = ExecutorStore(old_ledger(tmp_path) / "positions")
    assert store.load_error is None and store.quarantined == {}
    statuses = sorted(r.status for r in store.orders.values() if isinstance(r, FinishedOrder))
    assert statuses == ["NEW", "REJECTED"]
    (pending,) = [r for r in store.orders.values() if isinstance(r, PendingOrder)]
    assert pending.attempted and pending.refusal is None and pending.order_env is None
    assert isinstance(pending.decision, Envelope) and pending.decision.payload["symbol"] == "POABTC"
    (pos,) = store.positions.values()
    assert isinstance(pos, Position) and pos.symbol == "EVXBTC" and pos.quantity == 100.0
    assert pos.closing == Closing(reason="timeout", attempted=True)
    assert pos.fill_env.event_type == "FILL"


async def test_an_old_ledger_reconciles_where_it_stopped(tmp_path):
    """At start the attempted BUY is finished from the venue's book and the begun close ends."""
    root = old_ledger(tmp_path)
    ex = executor(root)
    report = await ex.reconcile(publish)
    assert report["resumed"] == 1 and report["quarantined"] == [] and report["orphans"] == []
    kinds = [(e.event_type, e.payload.get("symbol")) for e in published]
    assert kinds == [("ORDER", "POABTC"), ("FILL", "POABTC"), ("CLOSE", "EVXBTC")]
    assert published[-1].payload["reason"] == "timeout"
    assert {p.symbol for p in ex.store.positions.values()} == {"POABTC"}
    ex.store.close()


def test_the_new_format_keeps_the_old_shape(tmp_path):
    """Re-saved records carry every key the old format had, with the same values."""
    root = old_ledger(tmp_path)
    old = json.loads((root / "positions" / "executor.json").read_bytes())
    store = ExecutorStore(root / "positions")
    store.save()
    store.close()
    new = json.loads((root / "positions" / "executor.json").read_bytes())
    for section in ("orders", "positions"):
        for key, rec in old[section].items():
            assert set(rec) <= set(new[section][key])
    for key, rec in old["orders"].items():  # not changed by the journal since
        assert {k: new["orders"][key][k] for k in rec} == rec
    (pos,) = old["positions"].values()  # its close began in the journal since
    assert {k: v for k, v in new["positions"][pos["order_id"]].items()
            if k != "closing" and k in pos} == {k: v for k, v in pos.items() if k != "closing"}


def _poison(root: Path) -> tuple[str, str]:
    """Break the journal's last order record and last position record; returns their keys."""
    journal = next((root / "positions").glob("executor.*.journal"))
    lines = journal.read_text().splitlines()
    order_op, pos_op = json.loads(lines[2]), json.loads(lines[3])  # POABTC BUY; EVXBTC position
    del order_op[0][2]["decision"]["event_id"]
    pos_op[0][2]["quantity"] = "lots"
    lines[2], lines[3] = json.dumps(order_op), json.dumps(pos_op)
    journal.write_text("\n".join(lines) + "\n")
    return pos_op[0][1], order_op[0][1]


async def test_a_record_that_does_not_decode_is_quarantined_and_reported(tmp_path):
    """Bad records are set apart with evidence and an ALERT naming the venue's side; no crash."""
    root = old_ledger(tmp_path)
    pos_key, order_key = _poison(root)
    ex = executor(root)
    assert ex.store.load_error is None and len(ex.store.quarantined) == 2
    report = await ex.reconcile(publish)
    alerts = {a["key"]: a for a in report["quarantined"]}
    assert alerts[pos_key]["record"] == "position" and "quantity" in alerts[pos_key]["error"]
    assert alerts[pos_key]["at_venue"]["quantity"] == 100.0  # its position, reported
    assert alerts[order_key]["record"] == "order" and "event_id" in alerts[order_key]["error"]
    assert alerts[order_key]["symbol"] == "POABTC" and alerts[order_key]["at_venue"]
    assert ex.store.orders[order_key] == FinishedOrder(status=QUARANTINED, order_event_id=None)
    assert ex.stats["ledger_quarantined"] == 2
    assert pos_key not in ex.store.positions
    evidence = root / "quarantine" / "executor-ledger.bin"
    assert b'"quantity":"lots"' in evidence.read_bytes()  # the record as it was on disk
    ex.store.close()
    again = executor(root)  # the next start is clean: nothing left to quarantine
    assert again.store.quarantined == {} and again.store.load_error is None
    assert (await again.reconcile(publish))["quarantined"] == []
    again.store.close()


async def test_a_record_that_cannot_be_finished_is_quarantined_at_start(tmp_path, monkeypatch):
    """A placed BUY whose targets are missing fails at every attempt: reconcile sets it apart,
    reports the venue's order, and the decision is never placed again."""
    root = tmp_path / "st"
    ex = executor(root)
    # the executor's limits refuse such a BUY today; the record stands for one an older
    # version (or a hand) left in the ledger
    monkeypatch.setattr("hope.execution.executor.exec_limits.check", lambda *args: None)
    signal = new_event("SIGNAL", {"symbol": "EVXBTC", "strategy": "pump", "price": 1e-5,
                                  "market_ts": T0}, source="scanner")
    d = new_event("DECISION", {"symbol": "EVXBTC", "strategy": "pump", "action": "BUY",
                               "confidence": 0.7, "reasons": [], "position_size": 0.001,
                               "targets": {}, "config_hash": "c", "market_ts": T0 + 1,
                               "quote": "BTC"}, source="decision-engine", parent=signal)
    with pytest.raises(KeyError):
        await ex.handle_decision(d, publish)
    ex.store.close()
    monkeypatch.undo()
    restarted = executor(root)
    report = await restarted.reconcile(publish)  # before: KeyError here, at every start
    (alert,) = report["quarantined"]
    cid = client_order_id(d.event_id)
    assert alert["key"] == cid and "KeyError" in alert["error"] and alert["where"] == "reconcile"
    assert alert["at_venue"]["side"] == "BUY" and alert["symbol"] == "EVXBTC"
    published.clear()
    await restarted.handle_decision(d, publish)  # a redelivery: a duplicate, nothing placed
    assert published == [] and restarted.stats["duplicate_decisions"] == 1
    restarted.store.close()
    assert (await executor(root).reconcile(publish))["quarantined"] == []
