"""A scripted venue with BinanceVenue's interface, for the live executor's unit tests: each
call pops its next scripted answer (an exception raises); the whole system against the real
stand-in is in tests/integration/test_live_venue.py and test_venue_adapter.py."""

from __future__ import annotations

from decimal import Decimal

from hope.clock import ManualClock, MarketClock
from hope.envelope import new_event
from hope.execution.breaker import CircuitBreaker
from hope.execution.config import ExecutionConfig
from hope.execution.live import LiveExecutor
from hope.execution.positions import ExecutorStore
from hope.venue.filters import SymbolRules
from hope.venue.gate import CLOSED, VenueGate
from hope.venue.orders import VenueOrder

T0 = 1_610_226_000.0
SYM = "EVXBTC"
RULES = SymbolRules.from_symbol_info({
    "symbol": SYM, "baseAsset": "EVX", "quoteAsset": "BTC", "status": "TRADING",
    "orderTypes": ["MARKET"], "filters": [
        {"filterType": "LOT_SIZE", "minQty": "1", "maxQty": "9000000", "stepSize": "1"},
        {"filterType": "NOTIONAL", "minNotional": "0.0001", "applyMinToMarket": True,
         "maxNotional": "9000000", "applyMaxToMarket": False}]})


def venue_order(cid, side="BUY", status="FILLED", qty="100", price="0.00001",
                fee="0.1", fee_asset="EVX", trade_id=501, order_id=77):
    """The venue's record of a MARKET order (filled: one fill, fee in ``fee_asset``)."""
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
    """A LiveExecutor on ``venue`` (a fresh ScriptedVenue), its breaker closed, a manual wall."""
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
    """A BUY DECISION for SYM spending ``size`` BTC."""
    payload = {"symbol": SYM, "strategy": "pump", "action": "BUY", "confidence": 0.7,
               "reasons": [], "position_size": size,
               "targets": {"take_profit_pct": 5.0, "stop_loss_pct": 3.0, "timeout_s": 600.0},
               "config_hash": "cfg:t", "market_ts": market_ts, "quote": "BTC"}
    return new_event("DECISION", payload, source="decision-engine")
