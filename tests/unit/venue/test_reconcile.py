"""The reconciliation report: unresolved intents, unknown venue orders, balances."""

from __future__ import annotations

from decimal import Decimal as D

from hope.venue.orders import VenueOrder
from hope.venue.reconcile import Held, build_report


def open_order(cid: str) -> VenueOrder:
    return VenueOrder.parse({"symbol": "EVXBTC", "clientOrderId": cid, "orderId": 9,
                             "side": "BUY", "type": "LIMIT", "status": "NEW", "origQty": "5",
                             "executedQty": "0", "cummulativeQuoteQty": "0", "time": 1})


def test_everything_matches_passes() -> None:
    """Resolved intents, only known orders, balances covering the positions: passed."""
    r = build_report("binance", 1.0, unresolved={}, resolved=2,
                     open_orders=[open_order("hope-known")], known_ids={"hope-known"},
                     held=[Held("EVX", D("81"), D("1"), ("hope-a",))],
                     balances={"EVX": D("81.5"), "BTC": D("1")})
    assert r.passed and r.as_payload()["balances"][0]["difference"] == 0.5


def test_unknown_hope_order_at_the_venue_fails_and_is_named() -> None:
    """An open order with HOPE's prefix that HOPE does not know fails reconciliation."""
    r = build_report("binance", 1.0, unresolved={}, resolved=0,
                     open_orders=[open_order("hope-stranger")], known_ids=set(), held=[],
                     balances={})
    assert not r.passed and r.unknown_orders[0]["order_id"] == "hope-stranger"
    assert "hope-stranger" in r.reason()


def test_balance_shortfall_fails_and_unresolved_intent_fails() -> None:
    """A base balance below the positions (sold by hand) and an unknown outcome both fail."""
    r = build_report("binance", 1.0, unresolved={"hope-x": "not found yet"}, resolved=0,
                     open_orders=[], known_ids=set(),
                     held=[Held("EVX", D("81"), D("1"))], balances={"EVX": D("10")})
    assert not r.passed and len(r.problems) == 2
    assert any("below" in p for p in r.problems) and any("hope-x" in p for p in r.problems)


def test_error_fails() -> None:
    """A venue that could not be asked leaves nothing known: not passed."""
    r = build_report("binance", 1.0, unresolved={}, resolved=0, open_orders=[], known_ids=set(),
                     held=[], balances={})
    r.error = "timeout"
    assert not r.passed and "timeout" in r.reason()
