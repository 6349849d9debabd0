"""The live executor with protective stops: a stop that traded while HOPE was down closes its
position with the stop's fills, once, even beside an exit intent that was never sent."""

from __future__ import annotations

from decimal import Decimal as D

from hope.execution.records import Closing, ExitAttempt
from hope.trading.ids import client_order_id, close_order_id
from hope.venue.stop_driver import StopDriver
from tests.helpers import ExecutorRecorder
from tests.live_venue import T0, decision, make, venue_order


def stop_driver(tmp_path, venue, wall):
    """A StopDriver over the scripted venue's orders (the stop's calls as dicts)."""

    def record(o):
        return {"status": o.status, "orderId": o.order_id, "executedQty": str(o.executed_qty)}

    async def place(params):
        cid = params["newClientOrderId"]
        venue.orders[cid] = venue_order(cid, side="SELL", status="NEW", qty=params["quantity"],
                                        order_id=90)
        return record(venue.orders[cid])

    async def cancel(symbol, cid):
        venue.cancelled.append(cid)
        return None

    async def query(symbol, cid):
        o = venue.orders.get(cid)
        return record(o) if o else None

    return StopDriver(tmp_path / "stops.jsonl", place=place, cancel=cancel, query=query,
                      grace_s=120, wall=wall.time)


async def open_with_stop(tmp_path):
    """A filled BUY of 99.9 EVX with its stop active; the executor then dies (store closed)."""
    ex, venue, wall = make(tmp_path)
    ex.stops = stop_driver(tmp_path, venue, wall)
    d = decision()
    await ex.handle_decision(d, ExecutorRecorder())
    pid = client_order_id(d.event_id)
    assert ex.stops.stops[pid].client_id == pid + "-s1"   # placed after the FILL
    return ex, venue, wall, pid


def stop_traded(venue, pid):
    """The venue's stop sold the whole position while HOPE was down."""
    cid = pid + "-s1"
    venue.orders[cid] = venue_order(cid, side="SELL", qty="99", price="0.0000096",
                                    fee="0.0000001", fee_asset="BTC", trade_id=701, order_id=90)


def restart(ex, tmp_path, venue, wall):
    ex.store.close()
    ex.stops.close()
    again, _, _ = make(tmp_path, venue=venue, wall=wall)
    again.stops = stop_driver(tmp_path, venue, wall)
    return again


async def test_stop_filled_while_down_closes_with_the_stops_fills_once(tmp_path):
    """Reconciliation after a restart finds the stop FILLED: one CLOSE (stop_loss, the stop's
    trade ids), no SELL sent, and a second reconciliation publishes nothing more."""
    ex, venue, wall, pid = await open_with_stop(tmp_path)
    stop_traded(venue, pid)
    again, pub = restart(ex, tmp_path, venue, wall), ExecutorRecorder()
    await again.reconcile(pub)
    (close,) = pub.of("CLOSE")
    assert close.payload["reason"] == "stop_loss" and close.payload["exit_trade_ids"] == [701]
    assert venue.sells == [] and not again.store.positions and not again.stops.stops
    wall.advance(5)
    await again.reconcile_venue(pub)
    await again.check_exits(pub)
    assert len(pub.of("CLOSE")) == 1 and venue.sells == []


async def test_exit_intent_never_sent_beside_a_filled_stop_resolves_and_closes(tmp_path):
    """An exit journaled without its send time (killed before the send) is queried once:
    -2013 with no send means not placed, and the stop's fills close the position; no -x
    SELL goes out and no exit_failed is raised."""
    ex, venue, wall, pid = await open_with_stop(tmp_path)
    pos = ex.store.positions[pid]
    pos.closing, pos.exit = Closing("stop_loss", attempted=True), None
    ex.store.put_position(pos)
    stop_traded(venue, pid)
    again, pub = restart(ex, tmp_path, venue, wall), ExecutorRecorder()
    await again.reconcile(pub)
    (close,) = pub.of("CLOSE")
    assert close.payload["exit_trade_ids"] == [701] and venue.sells == []
    assert venue.queries.count(close_order_id(pid)) == 1
    assert not pub.of("ALERT", kind="exit_failed")


async def test_unsent_exit_is_queried_with_backoff_until_the_grace_then_sent_once(tmp_path):
    """Killed between journaling an exit and sending it (no stop): the -x is queried with a
    backoff, not every second, for the 120 s grace; then it is known not placed and sold once."""
    ex, venue, wall = make(tmp_path)
    d = decision()
    await ex.handle_decision(d, ExecutorRecorder())
    pid = client_order_id(d.event_id)
    pos = ex.store.positions[pid]
    pos.closing = Closing("stop_loss", attempted=True)
    pos.exit = ExitAttempt(sent_wall=wall.time(), market_ts=T0 + 5)
    ex.store.put_position(pos)
    ex.store.close()
    again, _, _ = make(tmp_path, venue=venue, wall=wall)
    pub = ExecutorRecorder()
    for _ in range(130):
        await again.resolve_closes(pub)
        await again.check_exits(pub)
        wall.advance(1)
    assert venue.queries.count(close_order_id(pid)) <= 12
    assert venue.sells == [(close_order_id(pid), D("99"))]
    (close,) = pub.of("CLOSE")
    assert close.payload["reason"] == "stop_loss"


def stop_report(pid, status="FILLED"):
    """The user stream's executionReport of the position's stop having traded."""
    return {"e": "executionReport", "x": "TRADE", "X": status, "c": pid + "-s1", "z": "99"}


async def test_a_stop_sale_the_stream_reports_is_closed_without_a_later_price(tmp_path):
    """The stop sold on the market's last trades, HALTED: the periodic close books one CLOSE
    (stop_loss, the stop's fills) with no PRICE after it and no SELL sent; again: nothing."""
    ex, venue, wall, pid = await open_with_stop(tmp_path)
    ex.trading_state = "HALTED"
    stop_traded(venue, pid)
    ex.on_stop_report(stop_report(pid))
    pub = ExecutorRecorder()
    assert await ex.close_stop_sales(pub) == 1
    (close,) = pub.of("CLOSE")
    assert close.payload["reason"] == "stop_loss" and close.payload["exit_trade_ids"] == [701]
    assert venue.sells == [] and not ex.store.positions
    wall.advance(5)
    assert await ex.close_stop_sales(pub) == 0 and len(pub.of("CLOSE")) == 1


async def test_a_position_whose_stop_has_not_traded_is_left_alone(tmp_path):
    """No stream report of a fill: the periodic close asks nothing and closes nothing."""
    ex, venue, wall, pid = await open_with_stop(tmp_path)
    queries = list(venue.queries)
    pub = ExecutorRecorder()
    assert await ex.close_stop_sales(pub) == 0
    assert pub.of("CLOSE") == [] and venue.queries == queries and pid in ex.store.positions
