"""The executor on a live venue, BUYs: refusals, unknown outcomes resolved by query, restarts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hope.trading.ids import client_order_id
from hope.venue.errors import VenueRefused, VenueUnknown
from hope.venue.gate import OPEN
from hope.venue.orders import VenueOrder
from tests.helpers import ExecutorRecorder
from tests.live_venue import T0, ScriptedVenue, decision, make, venue_order


async def test_buy_fills_with_venue_ids_and_a_position_net_of_the_base_fee(tmp_path):
    """ORDER NEW carries the venue order id, FILL its trade ids; the position is net of fees."""
    ex, venue, _ = make(tmp_path)
    pub, d = ExecutorRecorder(), decision()
    await ex.handle_decision(d, pub)
    (order,), (fill,) = pub.of("ORDER"), pub.of("FILL")
    assert order.payload["status"] == "NEW" and order.payload["venue_order_id"] == 77
    assert fill.payload["trade_ids"] == [501] and fill.payload["fills"][0]["commission_asset"] \
        == "EVX"
    (pos,) = ex.store.positions.values()
    assert pos.quantity == 99.9 and pos.base == "EVX" and pos.trade_ids == [501]
    assert venue.buys == [(client_order_id(d.event_id), Decimal("0.00100000"))]

async def test_definitive_refusal_is_rejected_with_code(tmp_path):
    """-2010 insufficient balance is ORDER REJECTED naming the code and message."""
    ex, venue, _ = make(tmp_path)
    venue.answers["buy"].append(VenueRefused("Account has insufficient balance for requested "
                                             "action.", code=-2010, http_status=400))
    pub = ExecutorRecorder()
    await ex.handle_decision(decision(), pub)
    (order,) = pub.of("ORDER")
    assert order.payload["status"] == "REJECTED" and "-2010" in order.payload["reason"]
    assert not ex.store.positions

async def test_filter_refusal_sends_nothing(tmp_path):
    """A BUY below minNotional is REJECTED naming NOTIONAL, and nothing is sent."""
    ex, venue, _ = make(tmp_path)
    pub = ExecutorRecorder()
    await ex.handle_decision(decision(size=0.00005), pub)
    (order,) = pub.of("ORDER")
    assert order.payload["status"] == "REJECTED" and "NOTIONAL" in order.payload["reason"]
    assert venue.buys == []

async def test_no_order_while_reconciling_or_after_a_failed_reconciliation(tmp_path):
    """The venue breaker not closed: REJECTED with its state and reason, nothing sent."""
    ex, venue, _ = make(tmp_path)
    ex.gate.set(OPEN, "balance EVX below positions")
    pub = ExecutorRecorder()
    await ex.handle_decision(decision(), pub)
    (order,) = pub.of("ORDER")
    assert "venue breaker open: balance EVX" in order.payload["reason"] and venue.buys == []

async def test_unknown_then_found_later_is_one_unknown_then_new(tmp_path):
    """A timeout after sending: one ORDER UNKNOWN; -2013 twice; then found: NEW + FILL; one send."""
    ex, venue, wall = make(tmp_path)
    venue.answers["buy"].append(VenueUnknown("no answer within 5s"))
    pub, d = ExecutorRecorder(), decision()
    await ex.handle_decision(d, pub)
    assert [e.payload["status"] for e in pub.of("ORDER")] == ["UNKNOWN"]
    cid = client_order_id(d.event_id)
    venue.answers["query"] += [None, None, venue_order(cid)]
    for _ in range(3):
        wall.advance(10)
        await ex.resolve_pending(pub)
    assert [e.payload["status"] for e in pub.of("ORDER")] == ["UNKNOWN", "NEW"]
    assert len(pub.of("FILL")) == 1 and len(venue.buys) == 1 and len(venue.queries) == 3
    await ex.resolve_pending(pub)
    assert len(venue.queries) == 3  # resolved: nothing pending, nothing asked

async def test_unknown_not_found_after_grace_is_rejected_once(tmp_path):
    """-2013 past the grace period: one UNKNOWN, then exactly one REJECTED; never resent."""
    ex, venue, wall = make(tmp_path)
    ex.bcfg.unknown_grace_s = 60
    venue.answers["buy"].append(VenueUnknown("HTTP 503", http_status=503))
    venue.answers["query"] += [None] * 5
    pub = ExecutorRecorder()
    await ex.handle_decision(decision(), pub)
    for _ in range(4):
        wall.advance(20)
        await ex.resolve_pending(pub)
    statuses = [e.payload["status"] for e in pub.of("ORDER")]
    assert statuses == ["UNKNOWN", "REJECTED"] and len(venue.buys) == 1
    assert "-2013" in pub.of("ORDER")[1].payload["reason"]

async def test_restart_after_send_queries_and_never_resubmits(tmp_path):
    """Killed between send and reply: the restart finds the order by its id: one NEW, one send."""
    ex, venue, wall = make(tmp_path)

    async def sent_then_killed(cid, symbol, quote_qty):
        venue.buys.append((cid, quote_qty))
        venue.orders[cid] = venue_order(cid)
        raise KeyboardInterrupt  # the process dies before the reply is read

    venue.market_buy = sent_then_killed
    d = decision()
    try:
        await ex.handle_decision(d, ExecutorRecorder())
    except KeyboardInterrupt:
        pass
    ex.store.close()
    restarted, _, _ = make(tmp_path, venue=ScriptedVenue(), wall=wall)
    restarted.venue.orders = venue.orders
    pub = ExecutorRecorder()
    report = await restarted.reconcile(pub)
    assert [e.payload["status"] for e in pub.of("ORDER")] == ["NEW"]
    assert restarted.venue.buys == [] and report["venue"]["resolved"] == 1
    await restarted.handle_decision(d, pub)  # the redelivered decision: nothing more
    assert len(pub.of("ORDER")) == 1

async def test_crash_after_order_new_republishes_it_with_the_same_id(tmp_path):
    """Killed right after ORDER NEW went out: the restart queries (the venue's time spelled
    differently), republishes the same ORDER NEW (same id) and its FILL; no second BUY."""
    ex, venue, wall = make(tmp_path)
    pub, d = ExecutorRecorder(), decision()

    class Killed(Exception):
        pass

    async def die_after_new(event_type, payload, parent, timestamp):
        env = await pub(event_type, payload, parent, timestamp)
        if event_type == "ORDER":
            raise Killed
        return env

    with pytest.raises(Killed):
        await ex.handle_decision(d, die_after_new)
    ex.store.close()
    cid = client_order_id(d.event_id)
    again = ScriptedVenue()
    bought = venue.orders[cid]
    again.orders = {cid: VenueOrder(**{**bought.__dict__, "time_ms": bought.time_ms + 7})}
    restarted, _, _ = make(tmp_path, venue=again, wall=wall)
    await restarted.reconcile(pub)
    first, second = pub.of("ORDER")
    assert first.event_id == second.event_id and again.buys == []
    assert len(pub.of("FILL")) == 1 and len(restarted.store.positions) == 1


async def test_an_order_of_unknown_outcome_counts_against_the_executors_own_limits(tmp_path):
    """With one position allowed, a BUY of unknown outcome holds the slot: the next BUY is
    refused by the executor's limit before the venue is touched."""
    ex, venue, _ = make(tmp_path, max_open_positions=1)
    venue.answers["buy"].append(VenueUnknown("no answer within 5s"))
    pub = ExecutorRecorder()
    await ex.handle_decision(decision(), pub)
    await ex.handle_decision(decision(market_ts=T0 + 1), pub)
    statuses = [(e.payload["status"], e.payload.get("reason", "")) for e in pub.of("ORDER")]
    assert statuses[0][0] == "UNKNOWN" and statuses[1][0] == "REJECTED"
    assert "max_open_positions" in statuses[1][1] and len(venue.buys) == 1
