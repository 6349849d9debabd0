"""The executor on a live venue: refusals, unknown outcomes resolved by query, exits, reconciliation.

The venue is a scripted collaborator with BinanceVenue's interface (answers queued per call);
the whole system against the real stand-in is in tests/integration/test_live_venue.py.
"""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal

import pytest

from hope.bus.memory import LocalBroker
from hope.clock import ManualClock, MarketClock
from hope.config import ConfigError
from hope.envelope import new_event
from hope.execution.breaker import CircuitBreaker
from hope.execution.config import ExecutionConfig
from hope.execution.live import LiveExecutor
from hope.execution.positions import ExecutorStore
from hope.execution.service import ExecutorService
from hope.testing import async_wait_for, service_for_tests
from hope.trading.ids import client_order_id, close_order_id
from hope.trading.state import HALTED, TradingStateStore
from hope.venue.adapter import WithdrawalsEnabled
from hope.venue.errors import VenueRefused, VenueUnknown
from hope.venue.filters import SymbolRules
from hope.venue.gate import CLOSED, OPEN, VenueGate
from hope.venue.keys import write_key_file
from hope.venue.orders import VenueOrder
from hope.venue.status import read_status

T0 = 1_610_226_000.0
SYM = "EVXBTC"
RULES = SymbolRules.from_symbol_info({
    "symbol": SYM, "baseAsset": "EVX", "quoteAsset": "BTC", "status": "TRADING",
    "orderTypes": ["MARKET"], "filters": [
        {"filterType": "LOT_SIZE", "minQty": "1", "maxQty": "9000000", "stepSize": "1"},
        {"filterType": "NOTIONAL", "minNotional": "0.0001", "applyMinToMarket": True,
         "maxNotional": "9000000", "applyMaxToMarket": False}]})


class Recorder:
    def __init__(self):
        self.events = []

    async def __call__(self, event_type, payload, parent, timestamp):
        env = new_event(event_type, payload, source="executor", parent=parent,
                        timestamp=timestamp)
        self.events.append(env)
        return env

    def of(self, event_type, **match):
        return [e for e in self.events if e.event_type == event_type
                and all(e.payload.get(k) == v for k, v in match.items())]


def venue_order(cid, side="BUY", status="FILLED", qty="100", price="0.00001",
                fee="0.1", fee_asset="EVX", trade_id=501, order_id=77):
    executed = qty if status == "FILLED" else "0"
    fills = [{"price": price, "qty": qty, "commission": fee, "commissionAsset": fee_asset,
              "tradeId": trade_id}] if status == "FILLED" else []
    return VenueOrder.parse({
        "symbol": SYM, "clientOrderId": cid, "orderId": order_id, "side": side,
        "type": "MARKET", "status": status, "origQty": qty, "executedQty": executed,
        "cummulativeQuoteQty": str(Decimal(executed) * Decimal(price)),
        "transactTime": 1_700_000_000_123, "fills": fills})


class ScriptedVenue:
    """BinanceVenue's interface; each call pops its next scripted answer (an exception raises)."""

    name = "binance"

    def __init__(self):
        self.rules = {SYM: RULES}
        self.prices = {SYM: (1e-5, T0)}
        self.buys, self.sells, self.queries = [], [], []
        self.answers = {"buy": [], "sell": [], "query": []}
        self.orders = {}
        self.open = []
        self.balance = {}
        self.cancelled = []
        self.requests, self.usage = 0, {}

    def set_price(self, symbol, price, market_ts):
        self.prices[symbol] = (price, market_ts)

    def price(self, symbol):
        return self.prices.get(symbol)

    def take_replies(self):
        return []

    def _next(self, kind, default):
        queue = self.answers[kind]
        answer = queue.pop(0) if queue else default
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def market_buy(self, cid, symbol, quote_qty):
        self.buys.append((cid, quote_qty))
        order = self._next("buy", venue_order(cid))
        self.orders[cid] = order
        return order

    async def market_sell(self, cid, symbol, qty):
        self.sells.append((cid, qty))
        order = self._next("sell", venue_order(cid, side="SELL", qty=str(qty), fee="0.0000001",
                                                fee_asset="BTC", trade_id=601, order_id=78))
        self.orders[cid] = order
        return order

    async def query(self, symbol, cid, with_fills=True):
        self.queries.append(cid)
        return self._next("query", self.orders.get(cid))

    async def check_restrictions(self):
        return None

    async def load_rules(self):
        return self.rules

    async def hope_open_orders(self):
        return list(self.open)

    async def balances(self):
        return dict(self.balance)

    dirty = False

    def sync(self):
        return False

    def close(self):
        self.closed = True

    async def aclose(self):
        self.closed = True

    async def cancel(self, symbol, cid):
        self.cancelled.append(cid)
        self.open = [o for o in self.open if o.client_id != cid]
        return None


def make(tmp_path, venue=None, wall=None, **cfg):
    venue = venue or ScriptedVenue()
    wall = wall or ManualClock(start=1000.0)
    breaker = CircuitBreaker("exchange", failure_threshold=3, reset_timeout_s=30,
                             clock=ManualClock())
    ex = LiveExecutor(ExecutionConfig(exchange="binance", **cfg), venue,
                      ExecutorStore(tmp_path / "positions"), breaker, gate=VenueGate(),
                      market_clock=MarketClock(), wall=wall.time)
    ex.gate.set(CLOSED)
    ex.market_clock.observe(T0)
    return ex, venue, wall


def decision(market_ts=T0, size=0.001):
    payload = {"symbol": SYM, "strategy": "pump", "action": "BUY", "confidence": 0.7,
               "reasons": [], "position_size": size,
               "targets": {"take_profit_pct": 5.0, "stop_loss_pct": 3.0, "timeout_s": 600.0},
               "config_hash": "cfg:t", "market_ts": market_ts, "quote": "BTC"}
    return new_event("DECISION", payload, source="decision-engine")


async def test_buy_fills_with_venue_ids_and_a_position_net_of_the_base_fee(tmp_path):
    """ORDER NEW carries the venue order id, FILL its trade ids; the position is net of fees."""
    ex, venue, _ = make(tmp_path)
    pub, d = Recorder(), decision()
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
    pub = Recorder()
    await ex.handle_decision(decision(), pub)
    (order,) = pub.of("ORDER")
    assert order.payload["status"] == "REJECTED" and "-2010" in order.payload["reason"]
    assert not ex.store.positions


async def test_filter_refusal_sends_nothing(tmp_path):
    """A BUY below minNotional is REJECTED naming NOTIONAL, and nothing is sent."""
    ex, venue, _ = make(tmp_path)
    pub = Recorder()
    await ex.handle_decision(decision(size=0.00005), pub)
    (order,) = pub.of("ORDER")
    assert order.payload["status"] == "REJECTED" and "NOTIONAL" in order.payload["reason"]
    assert venue.buys == []


async def test_no_order_while_reconciling_or_after_a_failed_reconciliation(tmp_path):
    """The venue breaker not closed: REJECTED with its state and reason, nothing sent."""
    ex, venue, _ = make(tmp_path)
    ex.gate.set(OPEN, "balance EVX below positions")
    pub = Recorder()
    await ex.handle_decision(decision(), pub)
    (order,) = pub.of("ORDER")
    assert "venue breaker open: balance EVX" in order.payload["reason"] and venue.buys == []


async def test_unknown_then_found_later_is_one_unknown_then_new(tmp_path):
    """A timeout after sending: one ORDER UNKNOWN; -2013 twice; then found: NEW + FILL; one send."""
    ex, venue, wall = make(tmp_path)
    venue.answers["buy"].append(VenueUnknown("no answer within 5s"))
    pub, d = Recorder(), decision()
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
    pub = Recorder()
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
        await ex.handle_decision(d, Recorder())
    except KeyboardInterrupt:
        pass
    ex.store.close()
    restarted, _, _ = make(tmp_path, venue=ScriptedVenue(), wall=wall)
    restarted.venue.orders = venue.orders
    pub = Recorder()
    report = await restarted.reconcile(pub)
    assert [e.payload["status"] for e in pub.of("ORDER")] == ["NEW"]
    assert restarted.venue.buys == [] and report["venue"]["resolved"] == 1
    await restarted.handle_decision(d, pub)  # the redelivered decision: nothing more
    assert len(pub.of("ORDER")) == 1


async def test_exit_sells_net_quantity_rounded_down_and_close_carries_venue_fills(tmp_path):
    """Take-profit sells 99 of 99.9 EVX (step 1); the CLOSE has the exit's trade ids and fees."""
    ex, venue, wall = make(tmp_path)
    pub, d = Recorder(), decision()
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
    pub, d = Recorder(), decision()
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


async def test_reconciliation_report_passes_or_opens_the_breaker(tmp_path):
    """Matching books close the breaker; an unknown HOPE order at the venue opens it with ALERT."""
    ex, venue, _ = make(tmp_path)
    pub = Recorder()
    await ex.reconcile(pub)
    assert ex.gate.state == CLOSED and pub.of("RECONCILIATION")[0].payload["passed"]
    venue.open = [VenueOrder.parse({"symbol": SYM, "clientOrderId": "hope-stranger",
                                    "orderId": 9, "side": "BUY", "status": "NEW",
                                    "origQty": "5", "executedQty": "0"})]
    await ex.reconcile_venue(pub)
    assert ex.gate.state == OPEN and "hope-stranger" in ex.gate.reason
    assert not pub.of("RECONCILIATION")[1].payload["passed"]
    assert pub.of("ALERT", kind="reconciliation_failed")


async def test_service_first_start_is_halted_and_reconciles_before_trading(tmp_path):
    """First start on a live venue: HALTED; breaker reconciling → closed; status file written."""
    broker, venue = LocalBroker(), ScriptedVenue()
    svc = await service_for_tests(ExecutorService, tmp_path / "st", broker,
                                  {"execution": {"exchange": "binance"}}, exchange=venue)
    task = asyncio.create_task(svc.runtime.run())
    try:
        await async_wait_for(lambda: [e for e in broker.published
                                      if e.event_type == "RECONCILIATION"], message="report")
        await async_wait_for(lambda: svc.executor.gate.state == CLOSED, message="closed")
        await svc.publish_breaker()
        states = [e.payload["state"] for e in broker.published
                  if e.event_type == "BREAKER" and e.payload["name"] == "venue"]
        assert states[0] == "reconciling" and states[-1] == "closed"
        assert TradingStateStore(svc.runtime.state.trading_state).load() == HALTED
        assert svc.executor.trading_state == HALTED
        status = read_status(svc.runtime.state.venue)
        assert status["breaker"]["state"] == "closed" and status["last_reconciliation"]["passed"]
        assert svc.heartbeat()["breakers"] == {"exchange": "closed", "venue": "closed"}
    finally:
        svc.runtime.request_stop()
        await task


async def test_service_refuses_a_key_file_readable_by_others(tmp_path):
    """A 0644 secret file refuses to start (ConfigError → exit 78) naming the file, not the key."""
    keys = tmp_path / "st" / "keys" / "binance"
    write_key_file(keys / "api_key", "K")
    write_key_file(keys / "secret", "TOPSECRET")
    os.chmod(keys / "secret", 0o640)
    with pytest.raises(ConfigError) as err:
        await service_for_tests(ExecutorService, tmp_path / "st", LocalBroker(),
                                {"execution": {"exchange": "binance"}})
    assert str(keys / "secret") in str(err.value) and "TOPSECRET" not in str(err.value)


async def test_flatten_cancels_hopes_open_orders_first_then_sells(tmp_path):
    """Flatten cancels every open order with HOPE's prefix, then closes every position."""
    ex, venue, _ = make(tmp_path)
    pub = Recorder()
    await ex.handle_decision(decision(), pub)
    venue.open = [VenueOrder.parse({"symbol": SYM, "clientOrderId": "hope-resting",
                                    "orderId": 5, "side": "SELL", "status": "NEW",
                                    "origQty": "5", "executedQty": "0"})]
    assert await ex.flatten(pub) == 1
    assert venue.cancelled == ["hope-resting"] and pub.of("CLOSE")[0].payload["reason"] == \
        "flatten"


async def test_service_reconciles_again_after_a_failure(tmp_path):
    """A failed reconciliation is retried by the periodic task (30 s) and trading may resume."""
    broker, venue, clock = LocalBroker(), ScriptedVenue(), ManualClock()
    venue.open = [VenueOrder.parse({"symbol": SYM, "clientOrderId": "hope-stranger",
                                    "orderId": 9, "side": "BUY", "status": "NEW",
                                    "origQty": "5", "executedQty": "0"})]
    svc = await service_for_tests(ExecutorService, tmp_path / "st", broker,
                                  {"execution": {"exchange": "binance"}}, clock=clock,
                                  exchange=venue)
    await svc.runtime.bus.start()
    await svc.start()
    assert svc.executor.gate.state == OPEN
    assert read_status(svc.runtime.state.venue)["breaker"]["state"] == "open"
    venue.open = []
    await svc.reconcile_again()
    assert svc.executor.gate.state == OPEN  # not due yet
    clock.advance(31)
    await svc.reconcile_again()
    assert svc.executor.gate.state == CLOSED
    assert read_status(svc.runtime.state.venue)["breaker"]["state"] == "closed"
    await svc.stop()


async def test_service_refuses_to_start_with_a_key_that_may_withdraw(tmp_path):
    """apiRestrictions enableWithdrawals: reported, breaker open, and the start refused (78)."""
    broker, venue = LocalBroker(), ScriptedVenue()

    async def may_withdraw():
        raise WithdrawalsEnabled("API key restriction enableWithdrawals is true")

    venue.check_restrictions = may_withdraw
    svc = await service_for_tests(ExecutorService, tmp_path / "st", broker,
                                  {"execution": {"exchange": "binance"}}, exchange=venue)
    await svc.runtime.bus.start()
    with pytest.raises(ConfigError, match="enableWithdrawals"):
        await svc.start()
    assert svc.executor.gate.state == OPEN
    (report,) = [e for e in broker.published if e.event_type == "RECONCILIATION"]
    assert "enableWithdrawals" in report.payload["error"]


async def test_a_buy_rejected_as_not_found_that_shows_up_later_fails_reconciliation(tmp_path):
    """-2013 past the grace → REJECTED; the order appears later: reconciliation names it."""
    ex, venue, wall = make(tmp_path)
    ex.bcfg.unknown_grace_s = 10
    venue.answers["buy"].append(VenueUnknown("reset after sending"))
    venue.answers["query"] += [None, None]
    pub, d = Recorder(), decision()
    await ex.handle_decision(d, pub)
    wall.advance(11)
    await ex.resolve_pending(pub)
    assert [e.payload["status"] for e in pub.of("ORDER")] == ["UNKNOWN", "REJECTED"]
    cid = client_order_id(d.event_id)
    await ex.reconcile_venue(pub)
    assert ex.gate.state == CLOSED  # still not there: nothing to say
    venue.orders[cid] = venue_order(cid)   # the venue shows it after all
    await ex.reconcile_venue(pub)
    assert ex.gate.state == OPEN and cid in ex.gate.reason
    assert pub.of("RECONCILIATION")[-1].payload["found_later"][0]["order_id"] == cid
    wall.advance(3601)
    await ex.reconcile_venue(pub)   # found: kept failing until an operator releases it
    assert ex.gate.state == OPEN
    assert ex.rechecks.release(cid)  # what `hope ack-position <order_id>` does
    await ex.reconcile_venue(pub)
    assert ex.gate.state == CLOSED


async def test_crash_after_the_close_republishes_the_same_close(tmp_path):
    """Killed after the CLOSE went out, before the ledger dropped the position: the restart
    finds the SELL by query (the venue's time spelled differently) and republishes the same
    CLOSE (same event id, deduped downstream), never a second SELL."""
    ex, venue, wall = make(tmp_path)
    pub, d = Recorder(), decision()
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


async def test_crash_after_order_new_republishes_it_with_the_same_id(tmp_path):
    """Killed right after ORDER NEW went out: the restart queries (the venue's time spelled
    differently), republishes the same ORDER NEW (same id) and its FILL; no second BUY."""
    ex, venue, wall = make(tmp_path)
    pub, d = Recorder(), decision()

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
