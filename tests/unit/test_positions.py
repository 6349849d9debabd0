"""PositionManager exit rules and the atomically persisted executor store."""

from __future__ import annotations

import pytest

from hope.execution.exchange import Order
from hope.execution.positions import ExecutorStore, Position, PositionManager


def buy(price=100.0, qty=2.0, fee=0.2, ts=1000.0) -> Order:
    return Order("hope-1", "EVXBTC", "BUY", qty, price, fee, "BTC", "FILLED",
                 "2026-01-01T00:00:00.000000Z", ts)


def test_open_sets_targets_relative_to_fill(tmp_path):
    """Take-profit and stop-loss come from the fill price and the percent targets."""
    pm = PositionManager(ExecutorStore(tmp_path))
    pos = pm.open(buy(), {"take_profit_pct": 5.0, "stop_loss_pct": 3.0, "timeout_s": 60}, {})
    assert pos.take_profit == pytest.approx(105.0) and pos.stop_loss == pytest.approx(97.0)
    assert pos.opened_market_ts == 1000.0 and pos.quote == "BTC"


@pytest.mark.parametrize("price,now,reason", [
    (105.0, 1001.0, "take_profit"), (97.0, 1001.0, "stop_loss"), (100.0, 1060.0, "timeout"),
    (100.0, 1059.9, None), (None, 1001.0, None)])
def test_exit_reason(tmp_path, price, now, reason):
    """TP at/above target, SL at/below, timeout on the market clock, else stay open."""
    pm = PositionManager(ExecutorStore(tmp_path))
    pos = pm.open(buy(), {"take_profit_pct": 5.0, "stop_loss_pct": 3.0, "timeout_s": 60}, {})
    assert pm.exit_reason(pos, price, now) == reason


def test_close_payload_pnl_net_of_fees(tmp_path):
    """CLOSE pnl = exit notional - entry notional - both fees, in the quote; holding on market clock."""
    pm = PositionManager(ExecutorStore(tmp_path))
    pos = pm.open(buy(), {"take_profit_pct": 5, "stop_loss_pct": 3, "timeout_s": 60}, {})
    sell = Order("hope-1-x", "EVXBTC", "SELL", 2.0, 110.0, 0.22, "BTC", "FILLED", "t", 1030.0)
    p = pm.close_payload(pos, sell, "take_profit")
    assert p["pnl"] == pytest.approx(220 - 200 - 0.42) and p["fees"] == pytest.approx(0.42)
    assert p["holding_s"] == 30.0 and p["quote"] == "BTC" and p["reason"] == "take_profit"


def test_store_persists_and_reloads(tmp_path):
    """Positions and ledger survive a restart via the atomic snapshot."""
    store = ExecutorStore(tmp_path)
    PositionManager(store).open(buy(), {"take_profit": 110.0, "stop_loss": 90.0}, {"x": 1})
    store.orders["hope-1"] = {"done": True}
    store.save()
    again = ExecutorStore(tmp_path)
    assert isinstance(again.positions["hope-1"], Position)
    assert again.positions["hope-1"].take_profit == 110.0
    assert again.orders == {"hope-1": {"done": True}} and again.load_error is None


def test_unreadable_store_is_reported(tmp_path):
    """A corrupt snapshot is reported (the service halts on it), not silently emptied."""
    (tmp_path / "executor.json").write_text("{broken")
    assert "unreadable" in ExecutorStore(tmp_path).load_error
