"""PositionManager exit rules and the atomically persisted executor store."""

from __future__ import annotations

import pytest

from hope.envelope import new_event
from hope.execution.exchange import Order
from hope.execution.positions import ExecutorStore, Position, PositionManager
from hope.execution.records import Closing, FinishedOrder, PendingOrder

FILL = new_event("FILL", {"symbol": "EVXBTC", "order_id": "hope-1", "filled_qty": 2.0,
                          "avg_price": 100.0, "commission": 0.2, "commission_asset": "BTC"},
                 source="executor")
DONE_LINE = b'{"done":true,"status":"NEW","order_event_id":"sha256:e"}'


def done(t=None) -> FinishedOrder:
    return FinishedOrder(status="NEW", order_event_id="sha256:e", t=t)


def pending(attempted=False) -> PendingOrder:
    decision = new_event("DECISION", {"symbol": "EVXBTC", "action": "BUY", "confidence": 1.0,
                                      "reasons": [], "position_size": 0.001, "targets": {},
                                      "config_hash": "c"}, source="decision-engine")
    return PendingOrder(decision=decision, attempted=attempted)


def buy(price=100.0, qty=2.0, fee=0.2, ts=1000.0) -> Order:
    return Order("hope-1", "EVXBTC", "BUY", qty, price, fee, "BTC", "FILLED",
                 "2026-01-01T00:00:00.000000Z", ts)


def test_open_sets_targets_relative_to_fill(tmp_path):
    """Take-profit and stop-loss come from the fill price and the percent targets."""
    pm = PositionManager(ExecutorStore(tmp_path))
    pos = pm.open(buy(), {"take_profit_pct": 5.0, "stop_loss_pct": 3.0, "timeout_s": 60}, FILL)
    assert pos.take_profit == pytest.approx(105.0) and pos.stop_loss == pytest.approx(97.0)
    assert pos.opened_market_ts == 1000.0 and pos.quote == "BTC"


@pytest.mark.parametrize("price,now,reason", [
    (105.0, 1001.0, "take_profit"), (97.0, 1001.0, "stop_loss"), (100.0, 1060.0, "timeout"),
    (100.0, 1059.9, None), (None, 1001.0, None)])
def test_exit_reason(tmp_path, price, now, reason):
    """TP at/above target, SL at/below, timeout on the market clock, else stay open."""
    pm = PositionManager(ExecutorStore(tmp_path))
    pos = pm.open(buy(), {"take_profit_pct": 5.0, "stop_loss_pct": 3.0, "timeout_s": 60}, FILL)
    assert pm.exit_reason(pos, price, now) == reason


def test_close_payload_pnl_net_of_fees(tmp_path):
    """CLOSE pnl = exit notional - entry notional - both fees, in the quote; holding on market clock."""
    pm = PositionManager(ExecutorStore(tmp_path))
    pos = pm.open(buy(), {"take_profit_pct": 5, "stop_loss_pct": 3, "timeout_s": 60}, FILL)
    sell = Order("hope-1-x", "EVXBTC", "SELL", 2.0, 110.0, 0.22, "BTC", "FILLED", "t", 1030.0)
    p = pm.close_payload(pos, sell, "take_profit")
    assert p["pnl"] == pytest.approx(220 - 200 - 0.42) and p["fees"] == pytest.approx(0.42)
    assert p["holding_s"] == 30.0 and p["quote"] == "BTC" and p["reason"] == "take_profit"


def test_store_persists_and_reloads(tmp_path):
    """Positions and ledger survive a restart via the atomic snapshot."""
    store = ExecutorStore(tmp_path)
    PositionManager(store).open(buy(), {"take_profit": 110.0, "stop_loss": 90.0}, FILL)
    store.orders["hope-1"] = done()
    store.save()
    again = ExecutorStore(tmp_path)
    assert isinstance(again.positions["hope-1"], Position)
    assert again.positions["hope-1"].take_profit == 110.0
    assert again.orders == {"hope-1": done()} and again.load_error is None
    assert again.positions["hope-1"].fill_env == FILL


def test_unreadable_store_is_reported(tmp_path):
    """A corrupt snapshot is reported (the service halts on it), not silently emptied."""
    (tmp_path / "executor.json").write_text("{broken")
    assert "unreadable" in ExecutorStore(tmp_path).load_error


def test_changes_are_journaled_without_save(tmp_path):
    """Every write lands in the journal at once: a new instance sees it without any save()."""
    store = ExecutorStore(tmp_path)
    PositionManager(store).open(buy(), {"take_profit": 110.0, "stop_loss": 90.0}, FILL,
                                ledger={"hope-1": done()})
    store.put_order("hope-2", pending(attempted=True))
    again = ExecutorStore(tmp_path)
    assert set(again.positions) == {"hope-1"} and again.orders["hope-2"].attempted is True
    assert again.orders["hope-1"] == done()
    store.drop_position("hope-1")
    assert ExecutorStore(tmp_path).positions == {}


def test_torn_last_journal_line_is_quarantined_not_fatal(tmp_path):
    """A torn last line is skipped and quarantined; the state before it loads; writes go on."""
    store = ExecutorStore(tmp_path)
    store.put_order("a", done())
    with open(store.journal_path(store.gen), "ab") as fh:
        fh.write(b'[["o","b",{"done":tr')
    again = ExecutorStore(tmp_path, quarantine_dir=tmp_path / "q")
    assert again.load_error is None and set(again.orders) == {"a"}
    again.put_order("c", done())
    assert (tmp_path / "q" / "executor-journal.bin").stat().st_size > 0
    third = ExecutorStore(tmp_path)
    assert set(third.orders) == {"a", "c"} and third.load_error is None


def test_compaction_preserves_state(tmp_path):
    """Snapshots taken every few records keep exactly the state; old journals are deleted."""
    store = ExecutorStore(tmp_path, compact_every=3)
    pm = PositionManager(store)
    for i in range(10):
        store.put_order(f"o{i}", done(t=float(i)) if i % 2 == 0 else pending())
    pm.open(buy(), {"take_profit": 110.0, "stop_loss": 90.0}, FILL)
    store.drop_position("hope-1")
    pm.open(buy(price=50.0), {"take_profit": 60.0, "stop_loss": 40.0}, FILL)
    store.positions["hope-1"].closing = Closing("timeout")
    store.put_position(store.positions["hope-1"])
    assert store.compactions >= 3
    assert [p.name for p in tmp_path.glob("executor.*.journal")] == [f"executor.{store.gen}.journal"]
    again = ExecutorStore(tmp_path)
    assert again.orders == store.orders
    assert again.positions == store.positions
    assert again.positions["hope-1"].closing == Closing("timeout", attempted=True)


def test_stale_journal_of_an_interrupted_compaction_is_ignored(tmp_path):
    """A journal the snapshot does not name (crash mid-compaction) is not replayed, then deleted."""
    store = ExecutorStore(tmp_path)
    store.put_order("a", done())
    store.save()
    (tmp_path / "executor.0.journal").write_bytes(b'[["o","ghost",' + DONE_LINE + b']]\n')
    again = ExecutorStore(tmp_path)
    assert set(again.orders) == {"a"}
    again.put_order("b", done())
    assert not (tmp_path / "executor.0.journal").exists()


def test_constructing_only_reads(tmp_path):
    """A reader (the gateway) changes no file: only the first write opens the store for writing."""
    store = ExecutorStore(tmp_path)
    store.put_order("a", done())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    reader = ExecutorStore(tmp_path)
    assert set(reader.orders) == {"a"}
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_corrupt_inner_journal_line_halts_and_writes_nothing(tmp_path):
    """A corrupt line before the end is a load error; the store then never touches the files."""
    store = ExecutorStore(tmp_path)
    store.put_order("a", done())
    with open(store.journal_path(store.gen), "ab") as fh:
        fh.write(b"garbage\n" + b'[["o","b",' + DONE_LINE + b']]\n')
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    bad = ExecutorStore(tmp_path)
    assert bad.load_error and ":2:" in bad.load_error
    bad.put_order("c", done())
    bad.save()
    assert "c" in bad.orders
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_prune_forgets_finished_records_after_retention(tmp_path):
    """Finished records older than the cutoff leave memory and the next snapshot; open ones stay."""
    store = ExecutorStore(tmp_path)
    store.put_order("old", done(t=100.0))
    store.put_order("new", done(t=200.0))
    store.put_order("open", pending(attempted=True))
    assert store.prune(150.0) == 1
    assert set(store.orders) == {"new", "open"} and store.pruned_before == 150.0
    store.save()
    again = ExecutorStore(tmp_path)
    assert set(again.orders) == {"new", "open"} and again.pruned_before == 150.0
