"""HOPE's venue client against the stand-in's real signed endpoints (in-process server on
127.0.0.1): exchangeInfo filters, key restrictions, a MARKET BUY with FULL fills and trade ids,
the query by client id and -2013, balances, a definitive refusal and an unknown outcome."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from hope.clock import ManualClock, MarketClock
from hope.envelope import new_event
from hope.execution.breaker import CircuitBreaker
from hope.execution.config import ExecutionConfig
from hope.execution.live import LiveExecutor
from hope.execution.positions import ExecutorStore
from hope.venue.adapter import BinanceVenue, WithdrawalsEnabled
from hope.venue.config import BinanceVenueConfig
from hope.venue.errors import NotSent, VenueRefused, VenueUnknown
from hope.venue.keys import load_keys
from hope.venue.rest import VenueRest
from hope.venue_sim.scenario import MarketSettings, Scenario, TradingSettings
from hope.venue_sim.signing import load_key_dir
from hope.venue_sim.testing import generate_test_keys, running, steady_trades, write_trades

pytestmark = pytest.mark.integration


def client(keys_dir: Path, url: str, *, timeout_s: float = 5.0, **cfg) -> BinanceVenue:
    keys = load_keys(BinanceVenueConfig(**cfg), keys_dir)
    headers: list[dict] = []
    rest = VenueRest(url, keys.api_key, keys.signer, recv_window_ms=5000, timeout_s=timeout_s,
                     on_headers=lambda req, status, h: headers.append(dict(h)))
    venue = BinanceVenue(rest)
    venue.seen_headers = headers  # type: ignore[attr-defined]
    return venue


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv",
                         steady_trades(400, time.time() - 300, 1.0))]


def scenario(**kw) -> Scenario:
    return Scenario(market=MarketSettings(skip_s=250), trading=TradingSettings(**kw))


@pytest.mark.parametrize("kind", ["hmac", "ed25519"])
async def test_buy_query_balances_and_refusals(tmp_path: Path, data: list[Path], kind: str):
    """A signed MARKET BUY fills with trade ids; query by client id finds it; -2013 is None;
    too big a BUY is -2010 (refused); balances move; the key may not withdraw."""
    keys = generate_test_keys(tmp_path, kind)
    cfg = {"ed25519_key_file": str(keys.private_key_path)} if kind == "ed25519" else {}
    async with running(data, scenario(), keys=[load_key_dir(keys.directory)]) as sim:
        venue = client(tmp_path / "keys", sim.rest_url, **cfg)
        try:
            assert await venue.check_restrictions() is not None
            rules = (await venue.load_rules())["EVXBTC"]
            assert rules.base == "EVX" and rules.quote == "BTC" and rules.min_notional > 0
            price = Decimal(str(steady_trades(400, 0, 1.0)[250][1]))
            spend = rules.market_buy(Decimal("0.001"), price)
            order = await venue.market_buy("hope-test1", "EVXBTC", spend)
            assert order.status == "FILLED" and order.fills and order.client_id == "hope-test1"
            assert all(f.trade_id > 0 for f in order.fills)
            found = await venue.query("EVXBTC", "hope-test1")
            assert found is not None and found.order_id == order.order_id
            assert [f.trade_id for f in found.fills] == [f.trade_id for f in order.fills]
            assert await venue.query("EVXBTC", "hope-nope") is None
            balances = await venue.balances()
            assert balances["EVX"] > 0 and balances["BTC"] < 1
            with pytest.raises(VenueRefused) as err:
                await venue.market_buy("hope-test2", "EVXBTC", Decimal("5"))
            assert err.value.code == -2010
            assert await venue.hope_open_orders() == []
            assert any("X-MBX-USED-WEIGHT-1M" in h for h in venue.seen_headers)
            replies = venue.take_replies()
            assert replies and all("signature" not in r.params for r in replies)
            assert not any(keys.api_key in str(r.as_payload()) for r in replies)
        finally:
            await venue.aclose()


async def test_a_key_that_may_withdraw_is_refused(tmp_path: Path, data: list[Path]):
    """apiRestrictions enableWithdrawals=true refuses the key, naming the setting."""
    keys = generate_test_keys(tmp_path)
    async with running(data, scenario(enable_withdrawals=True),
                       keys=[load_key_dir(keys.directory)]) as sim:
        venue = client(tmp_path / "keys", sim.rest_url)
        try:
            with pytest.raises(WithdrawalsEnabled, match="enableWithdrawals"):
                await venue.check_restrictions()
        finally:
            await venue.aclose()


async def test_no_reply_in_time_is_unknown_and_the_order_exists(tmp_path: Path,
                                                                data: list[Path]):
    """A reply later than the client's timeout: VenueUnknown; the order was placed anyway."""
    keys = generate_test_keys(tmp_path)
    async with running(data, scenario(), keys=[load_key_dir(keys.directory)]) as sim:
        venue = client(tmp_path / "keys", sim.rest_url, timeout_s=0.5)
        try:
            await venue.load_rules()
            sim.rest.settings.delay_s = 1.0
            with pytest.raises(VenueUnknown):
                await venue.market_buy("hope-slow", "EVXBTC", Decimal("0.001"))
            sim.rest.settings.delay_s = 0.0

            deadline = time.monotonic() + 10
            found = None
            while found is None and time.monotonic() < deadline:  # placed after the delay
                await asyncio.sleep(0.1)
                found = await venue.query("EVXBTC", "hope-slow")
            assert found is not None and found.status == "FILLED"
        finally:
            await venue.aclose()


def live_executor(tmp_path: Path, venue: BinanceVenue) -> LiveExecutor:
    ex = LiveExecutor(ExecutionConfig(exchange="binance"), venue,
                      ExecutorStore(tmp_path / "positions"),
                      CircuitBreaker("exchange", clock=ManualClock()), market_clock=MarketClock())
    return ex


def buy_decision(price: float, market_ts: float):
    payload = {"symbol": "EVXBTC", "strategy": "pump", "action": "BUY", "confidence": 0.7,
               "reasons": [], "position_size": 0.001, "price": price, "quote": "BTC",
               "targets": {"take_profit_pct": 50.0, "stop_loss_pct": 50.0, "timeout_s": 60.0},
               "config_hash": "cfg:t", "market_ts": market_ts}
    return new_event("DECISION", payload, source="decision-engine")


async def test_executor_with_base_fees_and_reconciliation_on_the_stand_in(tmp_path: Path,
                                                                          data: list[Path]):
    """Fees in the base asset: the position is net of them and the exit sells that, rounded
    down to the step; reconciliation passes, then fails on an unknown `hope-` order and on a
    balance sold by hand (ALERT, breaker open with the reason), and passes once it matches."""
    keys = generate_test_keys(tmp_path)
    events: list = []

    async def publish(event_type, payload, parent, timestamp):
        env = new_event(event_type, payload, source="executor", parent=parent,
                        timestamp=timestamp)
        events.append(env)
        return env

    def of(kind: str) -> list:
        return [e for e in events if e.event_type == kind]

    async with running(data, scenario(commission_asset="base"),
                       keys=[load_key_dir(keys.directory)]) as sim:
        venue = client(tmp_path / "keys", sim.rest_url)
        ex = live_executor(tmp_path, venue)
        try:
            await ex.reconcile(publish)
            assert ex.gate.state == "closed" and of("RECONCILIATION")[-1].payload["passed"]
            price, now = float(steady_trades(400, 0, 1.0)[250][1]), time.time()
            ex.market_clock.observe(now)
            ex.on_price("EVXBTC", price, now)
            await ex.handle_decision(buy_decision(price, now), publish)
            (fill,) = of("FILL")
            assert fill.payload["fills"][0]["commission_asset"] == "EVX"
            (pos,) = ex.store.positions.values()
            assert pos.quantity == fill.payload["filled_qty"] - fill.payload["fills"][0][
                "commission"] and pos.base == "EVX"

            hand = client(tmp_path / "keys", sim.rest_url)   # an operator at the venue
            await hand.load_rules()
            await hand.rest.signed("POST", "/api/v3/order", {
                "symbol": "EVXBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                "quantity": "100", "price": "0.00000100", "newClientOrderId": "hope-stranger"})
            await ex.reconcile_venue(publish)
            assert ex.gate.state == "open" and "hope-stranger" in ex.gate.reason
            assert of("ALERT")[-1].payload["kind"] == "reconciliation_failed"
            await hand.cancel("EVXBTC", "hope-stranger")
            await hand.market_sell("by-hand", "EVXBTC", Decimal(str(int(pos.quantity))))
            await ex.reconcile_venue(publish)
            assert ex.gate.state == "open" and "balance EVX" in ex.gate.reason
            await hand.rest.signed("POST", "/api/v3/order", {
                "symbol": "EVXBTC", "side": "BUY", "type": "MARKET", "quantity": "200"})
            await ex.reconcile_venue(publish)
            assert ex.gate.state == "closed", ex.gate.reason

            assert await ex.flatten(publish) == 1
            (close,) = of("CLOSE")
            step = ex.venue.rules["EVXBTC"].step
            sold = sum(f["qty"] for f in close.payload["exit_fills"])
            assert Decimal(str(sold)) % step == 0 and sold <= pos.quantity
            assert close.payload["exit_fees_by_asset"].keys() == {"BTC"}  # a SELL pays in quote
            await hand.aclose()
        finally:
            await venue.aclose()


async def test_answers_on_the_wire_are_typed_as_the_taxonomy_says(tmp_path: Path,
                                                                  data: list[Path]):
    """HTTP 503 and 500 (-1001) on an order are unknown outcomes; a 429 is a refusal with
    Retry-After; a refused connection is NotSent."""
    keys = generate_test_keys(tmp_path)
    async with running(data, scenario(), keys=[load_key_dir(keys.directory)]) as sim:
        venue = client(tmp_path / "keys", sim.rest_url)
        try:
            await venue.load_rules()
            for status in (503, 500):
                sim.rest.settings.fail_status = status
                sim.rest.settings.fail_first = sim.rest.requests + 1   # the next request
                with pytest.raises(VenueUnknown) as err:
                    await venue.market_buy(f"hope-f{status}", "EVXBTC", Decimal("0.001"))
                assert err.value.http_status == status
                assert await venue.query("EVXBTC", f"hope-f{status}") is None
            sim.rest.settings.fail_first = 0
            sim.rest.limiter.limit = 1       # the request-weight budget used up
            with pytest.raises(VenueRefused) as refused:
                await venue.market_buy("hope-429", "EVXBTC", Decimal("0.001"))
            assert refused.value.http_status in (429, 418)
            assert refused.value.retry_after_s is not None
        finally:
            await venue.aclose()
    gone = client(tmp_path / "keys", sim.rest_url)   # the stand-in has stopped
    try:
        with pytest.raises(NotSent):
            await gone.market_buy("hope-gone", "EVXBTC", Decimal("0.001"))
    finally:
        await gone.aclose()


async def sim_fault(url: str, body: dict) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{url}/sim/v1/trading-fault",
                                                    json=body) as resp:
        assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("fault", [{"kind": "reply_1007", "count": 1},
                                   {"kind": "reply_5xx", "status": 503, "count": 1},
                                   {"kind": "reply_error", "code": -1006, "count": 1}])
async def test_placed_but_unknown_reply_then_not_found_for_a_while_resolves_to_new(
        tmp_path: Path, data: list[Path], fault: dict):
    """The venue places the BUY but answers an unknown outcome, and then answers -2013 to
    queries for 1.5 s: one ORDER UNKNOWN, then (found later) NEW with its FILL; one order."""
    keys = generate_test_keys(tmp_path)
    events: list = []

    async def publish(event_type, payload, parent, timestamp):
        env = new_event(event_type, payload, source="executor", parent=parent,
                        timestamp=timestamp)
        events.append(env)
        return env

    async with running(data, scenario(), keys=[load_key_dir(keys.directory)]) as sim:
        venue = client(tmp_path / "keys", sim.rest_url)
        ex = live_executor(tmp_path, venue)
        try:
            await ex.reconcile(publish)
            price, now = float(steady_trades(400, 0, 1.0)[250][1]), time.time()
            ex.market_clock.observe(now)
            ex.on_price("EVXBTC", price, now)
            await sim_fault(sim.rest_url, fault)
            await sim_fault(sim.rest_url, {"kind": "not_found", "ms": 1500})
            d = buy_decision(price, now)
            await ex.handle_decision(d, publish)
            statuses = [e.payload["status"] for e in events if e.event_type == "ORDER"]
            assert statuses == ["UNKNOWN"]
            deadline = time.monotonic() + 20
            while ex.pending() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                await ex.resolve_pending(publish)
            orders = [e.payload for e in events if e.event_type == "ORDER"]
            assert [o["status"] for o in orders] == ["UNKNOWN", "NEW"], orders
            assert orders[1]["after_unknown"] is True
            assert len([e for e in events if e.event_type == "FILL"]) == 1
            async with aiohttp.ClientSession() as s, s.get(f"{sim.rest_url}/sim/v1/orders") \
                    as resp:
                books = (await resp.json())["orders"]
            assert [o["clientOrderId"] for o in books] == [orders[0]["order_id"]]
        finally:
            await venue.aclose()
