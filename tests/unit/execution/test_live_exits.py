"""The executor on a live venue, exits: net quantity, unknown outcomes, flatten, restarts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hope.trading.ids import client_order_id, close_order_id
from hope.venue.errors import VenueRefused, VenueUnknown
from hope.venue.orders import VenueOrder
from tests.helpers import ExecutorRecorder
from tests.live_venue import SYM, T0, ScriptedVenue, decision, make, venue_order


async def test_exit_sells_net_quantity_rounded_down_and_close_carries_venue_fills(tmp_path):
    """Take-profit sells 99 of 99.9 EVX (step 1); the CLOSE has the exit's trade ids and fees."""
    ex, venue, wall = make(tmp_path)
    pub, d = ExecutorRecorder(), decision()
    await ex.handle_decision(d, pub)
    ex.on_price(SYM, 1.1e-5, T0 + 5)
    ex.market_clock.observe(T0 + 5)
    assert await ex.check_exits(pub) == 1
    (close,) = pub.of("CLOSE")
    assert venue.sells == [(close_order_id(client_order_id(d.event_id)), Decimal("99"))]
    assert close.payload["exit_trade_ids"] == [601] and close.payload["reason"] == "take_profit"
    assert close.payload["entry_trade_ids"] == [501] and close.payload["dust"] > 0.8
    assert not ex.store.positions

async def test_exit_of_unknown_outcome_is_queried_not_resent(tmp_path):
    """An exit SELL that times out is queried; found later, it closes once; one SELL sent."""
    ex, venue, wall = make(tmp_path)
    pub, d = ExecutorRecorder(), decision()
    await ex.handle_decision(d, pub)
    venue.answers["sell"].append(VenueUnknown("reset after sending"))
    ex.on_price(SYM, 0.9e-5, T0 + 5)
    ex.market_clock.observe(T0 + 5)
    assert await ex.check_exits(pub) == 0
    assert pub.of("ALERT", kind="exit_unknown")
    xid = close_order_id(client_order_id(d.event_id))
    venue.answers["query"] += [None, venue_order(xid, side="SELL", qty="99", fee_asset="BTC",
                                                 fee="0.0000001", trade_id=602)]
    wall.advance(5)
    assert await ex.check_exits(pub) == 0  # a close in flight is the resolver's
    await ex.resolve_closes(pub)
    await ex.resolve_closes(pub)
    (close,) = pub.of("CLOSE")
    assert close.payload["reason"] == "stop_loss" and close.payload["exit_trade_ids"] == [602]
    assert len(venue.sells) == 1

async def test_flatten_cancels_hopes_open_orders_first_then_sells(tmp_path):
    """Flatten cancels every open order with HOPE's prefix, then closes every position."""
    ex, venue, _ = make(tmp_path)
    pub = ExecutorRecorder()
    await ex.handle_decision(decision(), pub)
    venue.open = [VenueOrder.parse({"symbol": SYM, "clientOrderId": "hope-resting",
                                    "orderId": 5, "side": "SELL", "status": "NEW",
                                    "origQty": "5", "executedQty": "0"})]
    assert await ex.flatten(pub) == 1
    assert venue.cancelled == ["hope-resting"] and pub.of("CLOSE")[0].payload["reason"] == \
        "flatten"

async def test_crash_after_the_close_republishes_the_same_close(tmp_path):
    """Killed after the CLOSE went out, before the ledger dropped the position: the restart
    finds the SELL by query (the venue's time spelled differently) and republishes the same
    CLOSE (same event id, deduped downstream), never a second SELL."""
    ex, venue, wall = make(tmp_path)
    pub, d = ExecutorRecorder(), decision()
    await ex.handle_decision(d, pub)

    class Killed(Exception):
        pass

    async def die_after_close(event_type, payload, parent, timestamp):
        env = await pub(event_type, payload, parent, timestamp)
        if event_type == "CLOSE":
            raise Killed
        return env

    ex.on_price(SYM, 1.1e-5, T0 + 5)
    ex.market_clock.observe(T0 + 5)
    with pytest.raises(Killed):
        await ex.check_exits(die_after_close)
    ex.store.close()
    xid = close_order_id(client_order_id(d.event_id))
    again = ScriptedVenue()
    sold = venue.orders[xid]
    again.orders = {**venue.orders, xid: VenueOrder(**{**sold.__dict__,
                                                        "time_ms": sold.time_ms + 7})}
    restarted, _, _ = make(tmp_path, venue=again, wall=wall)
    await restarted.reconcile(pub)
    first, second = pub.of("CLOSE")
    assert first.event_id == second.event_id and again.sells == []
    assert not restarted.store.positions


async def test_refused_exit_is_tried_again_on_another_symbols_price(tmp_path):
    """A SELL the venue refused, held back by the once-per-resolve_interval_s rule (wall
    clock), is sent again at a later PRICE of another symbol: pending exits stay due."""
    ex, venue, wall = make(tmp_path)
    pub = ExecutorRecorder()
    await ex.handle_decision(decision(), pub)
    venue.answers["sell"].append(VenueRefused("Market is closed."))
    for symbol, price, ts in ((SYM, 1.1e-5, T0 + 5), ("GVTBTC", 2e-5, T0 + 6)):
        ex.on_price(symbol, price, ts)
        ex.market_clock.observe(ts)
        assert await ex.check_exits(pub, symbol) == 0  # refused, then not due on the wall clock
    assert pub.of("ALERT", kind="exit_failed") and len(venue.sells) == 1
    wall.advance(ex.bcfg.resolve_interval_s)
    ex.on_price("GVTBTC", 2e-5, T0 + 7)
    ex.market_clock.observe(T0 + 7)
    assert ex.exits_due("GVTBTC") and await ex.check_exits(pub, "GVTBTC") == 1
    assert pub.of("CLOSE")[0].payload["reason"] == "take_profit" and len(venue.sells) == 2
