"""The trading kernel: order ids, quote currency and how a BUY takes a position slot."""

from __future__ import annotations

from hope.decision.risk_state import RiskState
from hope.trading.book import apply_buy
from hope.trading.ids import client_order_id, close_order_id
from hope.trading.symbols import quote_of


def test_quote_and_client_ids():
    """Quote currency comes from the symbol suffix; client ids derive from the decision id."""
    assert quote_of("EVXBTC") == "BTC" and quote_of("BTCUSDT") == "USDT"
    assert quote_of("XRPETH") == "ETH" and quote_of("BTC") is None and quote_of("FOO") is None
    assert client_order_id("sha256:abcd") == "hope-abcd"
    assert close_order_id("hope-abcd") == "hope-abcd-x"


def test_apply_buy_takes_a_slot_keyed_by_the_client_order_id():
    """A BUY records its position under the order's client id, with size and cooldown time."""
    state = RiskState()
    took = apply_buy(state, "sha256:d1", {"action": "BUY", "symbol": "EVXBTC", "quote": "BTC",
                                          "position_size": 0.001, "market_ts": 100.0})
    assert took
    pos = state.positions["hope-d1"]
    assert (pos.symbol, pos.quote, pos.size) == ("EVXBTC", "BTC", 0.001)
    assert state.last_buy["EVXBTC"] == 100.0 and state.buys_since(0.0) == 1


def test_apply_buy_ignores_skips_and_buys_without_market_time():
    """A SKIP, or a BUY with no numeric market_ts, takes no slot."""
    state = RiskState()
    assert not apply_buy(state, "sha256:s", {"action": "SKIP", "symbol": "EVXBTC",
                                             "market_ts": 1.0})
    assert not apply_buy(state, "sha256:b", {"action": "BUY", "symbol": "EVXBTC"})
    assert not apply_buy(state, "sha256:c", {"action": "BUY", "symbol": "EVXBTC",
                                             "market_ts": True})
    assert state.positions == {}
