"""Resolving an order of unknown outcome from query answers on the wall clock."""

from __future__ import annotations

from hope.venue.orders import VenueOrder
from hope.venue.unknown import FOUND, GONE, WAIT, resolve


def order(status: str, executed: str = "0") -> VenueOrder:
    return VenueOrder.parse({"symbol": "EVXBTC", "clientOrderId": "hope-ab", "orderId": 7,
                             "side": "BUY", "type": "MARKET", "status": status,
                             "origQty": "100", "executedQty": executed,
                             "cummulativeQuoteQty": "0.001", "time": 1_700_000_000_000})


def test_found_filled() -> None:
    """A FILLED order found by its client id resolves to NEW with that order."""
    r = resolve(order("FILLED", "100"), sent_wall=0, now_wall=1, grace_s=60)
    assert r.kind == FOUND and r.order is not None and r.order.order_id == 7


def test_not_found_within_grace_waits_then_gone_after() -> None:
    """-2013 is tolerated for the grace period, then the order is taken not to exist."""
    assert resolve(None, sent_wall=100, now_wall=159, grace_s=60).kind == WAIT
    gone = resolve(None, sent_wall=100, now_wall=160, grace_s=60)
    assert gone.kind == GONE and "-2013" in gone.reason


def test_found_later_after_not_found() -> None:
    """Not found at first, found on a later query within the grace: NEW, never REJECTED."""
    answers = [None, None, order("FILLED", "100")]
    kinds = [resolve(a, sent_wall=0, now_wall=t, grace_s=60).kind
             for a, t in zip(answers, (1, 20, 40), strict=True)]
    assert kinds == [WAIT, WAIT, FOUND]


def test_venue_expired_with_partial_fill_is_found_and_empty_is_gone() -> None:
    """Venue EXPIRED with a partial fill is a position; EXPIRED empty never happened."""
    assert resolve(order("EXPIRED", "40"), sent_wall=0, now_wall=1, grace_s=60).kind == FOUND
    gone = resolve(order("EXPIRED_IN_MATCH"), sent_wall=0, now_wall=1, grace_s=60)
    assert gone.kind == GONE and "EXPIRED_IN_MATCH" in gone.reason


def test_still_working_waits() -> None:
    """A PARTIALLY_FILLED order is still working: ask again."""
    assert resolve(order("PARTIALLY_FILLED", "40"), sent_wall=0, now_wall=1,
                   grace_s=60).kind == WAIT
