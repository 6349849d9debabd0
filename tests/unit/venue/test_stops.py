"""Protective stops: the STOP_LOSS_LIMIT's parameters inside the filters, and the state machine
of place / cancel / replace with unknown outcomes."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hope.venue.stops import (
    ACTIVE,
    CANCELLED,
    FILLED,
    LOST,
    UNKNOWN,
    Alert,
    Cancel,
    ClosedByStop,
    ExitAllowed,
    Place,
    ProtectiveStop,
    Query,
    StopRefused,
    is_stop_id,
    plan_stop,
    stop_level,
)
from tests.helpers import nas_btc_rules

POS = "hope-0123456789abcdef"


def plan(qty="2499.75", level=None, **kw):
    lvl = level if level is not None else stop_level({"stop_loss_pct": 3.0}, D("0.00004000"))
    return plan_stop(nas_btc_rules(), POS, D(qty), lvl, **kw)


def test_stop_parameters_are_rounded_down_into_the_filters():
    """3 % under 0.00004 is 0.0000388; the limit 1 % lower rounds down to the tick; the
    quantity net of fees rounds down to the step."""
    p = plan()
    assert (p.stop_price, p.price, p.quantity) == (D("0.0000388"), D("0.00003841"), D("2499"))
    assert p.params() == {"symbol": "NASBTC", "side": "SELL", "type": "STOP_LOSS_LIMIT",
                          "timeInForce": "GTC", "quantity": "2499", "price": "0.00003841",
                          "stopPrice": "0.0000388", "newClientOrderId": POS + "-s1",
                          "newOrderRespType": "RESULT"}
    assert is_stop_id(p.client_id) and not is_stop_id(POS) and not is_stop_id(POS + "-x")


def test_a_stop_level_as_a_price_and_a_later_generation_get_their_own_id():
    """A stop_loss price level is used as given; generation 2 is a new client id."""
    p = plan(level=stop_level({"stop_loss": 0.000035}, D("0.00004")), generation=2)
    assert p.stop_price == D("0.000035") and p.client_id == POS + "-s2"


@pytest.mark.parametrize("kw,filter_name", [
    ({"qty": "0.9"}, "LOT_SIZE"),
    ({"qty": "2"}, "NOTIONAL"),
    ({"level": D("0.000000005")}, "PRICE_FILTER"),
    ({"last_price": D("0.0000388")}, "STOP_PRICE_WOULD_TRIGGER_IMMEDIATELY"),
])
def test_a_stop_the_venue_would_refuse_is_refused_locally_naming_the_filter(kw, filter_name):
    """Too small, too little notional, a price under the tick, or already triggered."""
    with pytest.raises(StopRefused) as err:
        plan(**kw)
    assert err.value.filter == filter_name


def stop():
    return ProtectiveStop(POS, "NASBTC", grace_s=60)


def test_place_then_exit_cancels_first_and_allows_the_exit_once_cancelled():
    """Placed → ACTIVE; HOPE's take-profit cancels it; only the CANCELED reply lets the SELL go."""
    s = stop()
    p = plan()
    assert s.place(p) == [Place(p)]
    assert s.placed("NEW", 77) == [] and s.state == ACTIVE
    assert s.cancel("take_profit") == [Cancel("NASBTC", p.client_id)]
    assert s.stream_update("CANCELED", D(0)) == [ExitAllowed("take_profit")]
    assert s.state == CANCELLED


def test_an_unknown_placement_is_queried_never_resent_and_found_later():
    """5xx on placement: Query; -2013 inside the grace: Query again; then found NEW."""
    s = stop()
    s.place(plan())
    assert s.outcome_unknown(100.0, "HTTP 503") == [Query("NASBTC", POS + "-s1")]
    assert s.state == UNKNOWN
    assert s.query_result(None, 130.0) == [Query("NASBTC", POS + "-s1")]
    assert s.query_result("NEW", 140.0, venue_order_id=5) == [] and s.state == ACTIVE
    assert s.venue_order_id == 5
    assert all(not isinstance(a, Place) for a in s.query_result("NEW", 141.0))


def test_not_found_after_the_grace_is_lost_with_an_alert_and_no_new_stop():
    """An unknown placement still not found after grace_s: LOST, ALERT, nothing re-placed."""
    s = stop()
    s.place(plan())
    s.outcome_unknown(100.0, "timeout")
    actions = s.query_result(None, 161.0)
    assert s.state == LOST and [type(a) for a in actions] == [Alert]
    assert "reconciliation" in actions[0].reason
    assert s.cancel("timeout") == [ExitAllowed("timeout")]


def test_an_exit_while_the_placement_is_unknown_waits_for_the_answer_then_cancels():
    """Exit during an unknown placement: query; found working → cancel; cancelled → exit."""
    s = stop()
    s.place(plan())
    s.outcome_unknown(100.0, "HTTP 502")
    assert s.cancel("flatten") == [Query("NASBTC", POS + "-s1")]
    assert s.query_result("NEW", 101.0) == [Cancel("NASBTC", POS + "-s1")]
    assert s.query_result("CANCELED", 102.0) == [ExitAllowed("flatten")]


def test_a_triggered_stop_closes_the_position_and_no_exit_sell_is_sent():
    """A stop that traded sold the position: cancel() says so instead of allowing a SELL."""
    s = stop()
    s.place(plan())
    s.placed("NEW", 1)
    assert s.stream_update("FILLED", D("2499")) == [ClosedByStop(POS + "-s1", FILLED)]
    assert s.cancel("timeout") == [ClosedByStop(POS + "-s1", FILLED)]


def test_an_unknown_cancel_is_queried_and_a_fill_in_between_wins():
    """Cancel times out; the query finds the stop FILLED meanwhile: closed by the stop."""
    s = stop()
    s.place(plan())
    s.placed("NEW", 1)
    s.cancel("timeout")
    assert s.outcome_unknown(200.0, "timeout") == [Query("NASBTC", POS + "-s1")]
    assert s.query_result("FILLED", 201.0) == [ClosedByStop(POS + "-s1", FILLED)]


def test_cancel_answered_unknown_order_is_resolved_by_query():
    """-2011 on the cancel: ask; not found after the grace means it is gone: exit allowed."""
    s = stop()
    s.place(plan())
    s.placed("NEW", 1)
    s.cancel("take_profit")
    assert s.cancel_refused_unknown_order() == [Query("NASBTC", POS + "-s1")]
    assert s.query_result(None, 10.0) == [Query("NASBTC", POS + "-s1")]
    assert s.query_result(None, 71.0) == [ExitAllowed("take_profit")]


def test_replace_cancels_then_places_the_next_generation():
    """A new quantity: cancel -s1, and only once it is CANCELED place -s2."""
    s = stop()
    s.place(plan())
    s.placed("NEW", 1)
    new = plan(qty="1200", generation=s.next_generation())
    assert s.replace(new) == [Cancel("NASBTC", POS + "-s1")]
    assert s.stream_update("CANCELED", D(0)) == [Place(new)]
    assert s.client_id == POS + "-s2"


def test_a_refused_stop_alerts_and_an_expired_one_alerts_too():
    """-2010 on placement (nothing exists): ALERT; a stop the venue expired on its own: ALERT."""
    s = stop()
    s.place(plan())
    [alert] = s.refused("venue -2010: Account has insufficient balance")
    assert isinstance(alert, Alert) and "-2010" in alert.reason
    assert "protected only while HOPE runs" in alert.reason and s.state == "failed"
    t = stop()
    t.place(plan())
    t.placed("NEW", 2)
    actions = t.stream_update("EXPIRED", D(0))
    assert [type(a) for a in actions] == [Alert] and t.state == CANCELLED


def test_the_state_survives_a_restart_through_its_record():
    """to_record/from_record round-trips what the ledger must keep."""
    s = stop()
    s.place(plan())
    s.outcome_unknown(100.0, "HTTP 500")
    again = ProtectiveStop.from_record(s.to_record(), grace_s=60)
    assert (again.state, again.client_id, again.unknown_since) == (UNKNOWN, POS + "-s1", 100.0)
    assert again.plan == s.plan
    assert again.query_result(None, 161.0)[0].__class__ is Alert
