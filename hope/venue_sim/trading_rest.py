"""The SIGNED REST endpoints: orders, trades, the account, API-key restrictions.

``POST /api/v3/order`` (and ``/order/test``), ``GET``/``DELETE /api/v3/order``,
``GET /api/v3/openOrders``, ``allOrders``, ``myTrades``, ``account``, and
``GET /sapi/v1/account/apiRestrictions``. Parameters come from the query string and, for POST
and DELETE, the form body (the query string wins); a parameter sent twice is -1101. Every
request is authenticated by :class:`hope.venue_sim.signing.KeyRing` against the venue's clock
(the stand-in's clock plus any configured skew). Weights are the venue's; order responses
carry ``X-MBX-ORDER-COUNT-10S`` and ``-1D``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from hope.venue_sim.book import Books
from hope.venue_sim.orders import VenueOrder, VenueTrade, parse_client_id, parse_new_order
from hope.venue_sim.ratelimit import OrderCounter
from hope.venue_sim.rest import ApiError, RestApi, _long, _ms, json_response
from hope.venue_sim.signing import ApiKey, KeyRing, parse_recv_window, parse_timestamp
from hope.venue_sim.trading_faults import UNKNOWN_OUTCOME, TradingFaults

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500
DAY_MS = 86_400_000


def _weights() -> dict[tuple[str, str], Callable[[web.Request], int]]:
    def fixed(n: int) -> Callable[[web.Request], int]:
        return lambda request: n
    return {
        ("POST", "/api/v3/order"): fixed(1), ("POST", "/api/v3/order/test"): fixed(1),
        ("GET", "/api/v3/order"): fixed(4), ("DELETE", "/api/v3/order"): fixed(1),
        ("GET", "/api/v3/openOrders"):
            lambda r: 6 if "symbol" in r.query else 80,
        ("GET", "/api/v3/allOrders"): fixed(20),
        ("GET", "/api/v3/myTrades"): lambda r: 5 if "orderId" in r.query else 20,
        ("GET", "/api/v3/account"): fixed(20),
        ("GET", "/sapi/v1/account/apiRestrictions"): fixed(1),
        ("DELETE", "/api/v3/openOrders"): fixed(1),
        ("GET", "/api/v3/rateLimit/order"): fixed(40),
    }


def _limit(p: dict[str, str]) -> int:
    limit = _long(p, "limit")
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(-1100, "Illegal characters found in parameter 'limit'; legal range is "
                              f"'1-{MAX_LIMIT}'.")
    return limit


def _window(rows: list[Any], time_of: Callable[[Any], int], start: int | None,
            end: int | None, limit: int) -> list[Any]:
    """The venue's selection by time: oldest from ``start``, newest up to ``end``, newest;
    at most 24 hours between ``startTime`` and ``endTime`` (-1127)."""
    if start is not None and end is not None and end - start > DAY_MS:
        raise ApiError(-1127, "More than 24 hours between startTime and endTime.")
    if start is not None:
        rows = [r for r in rows if time_of(r) >= start
                and (end is None or time_of(r) <= end)]
        return rows[:limit]
    if end is not None:
        rows = [r for r in rows if time_of(r) <= end]
    return rows[-limit:]


class TradingApi:
    def __init__(self, books: Books, keys: KeyRing, rest: RestApi,
                 orders_per_10s: int = 100, orders_per_day: int = 200_000,
                 faults: TradingFaults | None = None) -> None:
        self.books = books
        self.faults = faults or TradingFaults(books.clock)
        self.keys = keys
        self.rest = rest
        self.clock = books.clock
        self.orders_per_10s = orders_per_10s
        self.orders_per_day = orders_per_day
        self.counters: dict[str, OrderCounter] = {}
        books.listeners.append(self._on_book_event)

    def _on_book_event(self, order: VenueOrder, trade: VenueTrade | None, exec_type: str) -> None:
        if trade is not None and len(order.fills) == 1:     # its first fill
            self.counter(order.account).refund()

    def add_routes(self, app: web.Application) -> None:
        self.rest.weighers.update(_weights())
        r = app.router
        r.add_post("/api/v3/order", self.new_order)
        r.add_post("/api/v3/order/test", self.test_order)
        r.add_get("/api/v3/order", self.query_order)
        r.add_delete("/api/v3/order", self.cancel_order)
        r.add_get("/api/v3/openOrders", self.open_orders)
        r.add_delete("/api/v3/openOrders", self.cancel_open_orders)
        r.add_get("/api/v3/rateLimit/order", self.order_rate)
        r.add_get("/api/v3/allOrders", self.all_orders)
        r.add_get("/api/v3/myTrades", self.my_trades)
        r.add_get("/api/v3/account", self.account)
        r.add_get("/sapi/v1/account/apiRestrictions", self.api_restrictions)

    def counter(self, account: str) -> OrderCounter:
        c = self.counters.get(account)
        if c is None:
            c = self.counters[account] = OrderCounter(self.orders_per_10s, self.orders_per_day,
                                                      clock=self.clock)
        return c

    async def signed(self, request: web.Request) -> tuple[ApiKey, dict[str, str]]:
        """The caller's key and the request's parameters, once authenticated."""
        query = request.rel_url.raw_query_string       # signed as sent, still encoded
        body = await request.text() if request.method in ("POST", "DELETE", "PUT") else ""
        params: dict[str, str] = {}
        for source in (query, body):
            seen: set[str] = set()
            for name, value in parse_qsl(source, keep_blank_values=True):
                if name in seen:
                    raise ApiError(-1101, "Duplicate values for a parameter detected.")
                seen.add(name)
                params.setdefault(name, value)
        key = self.keys.authenticate(request.headers.get("X-MBX-APIKEY"), query, body, params,
                                     self.books.skew.now_ms(self.clock))
        self.books.advance()
        return key, params

    def _symbol(self, p: dict[str, str]) -> str:
        symbol = p.get("symbol", "")
        if not symbol:
            raise ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, "
                                  "or malformed.")
        self.books._tape(symbol)
        return symbol

    # --- orders ----------------------------------------------------------------------------
    async def new_order(self, request: web.Request) -> web.StreamResponse:
        received_us = time.time_ns() // 1000
        key, p = await self.signed(request)
        req = parse_new_order(p)
        verdict = self.counter(key.account).charge()
        if not verdict.allowed:
            resp = json_response({"code": -1015, "msg": verdict.message}, 429)
            resp.headers["Retry-After"] = str(verdict.retry_after)
            resp.headers.update(verdict.headers)
            return resp
        held = self.faults.hold("before", req.symbol, req.client_order_id)
        if held is not None:
            action = await self.faults.wait(held)
            if action != "reply":
                return self._unanswered(request, action)
        self._still_in_window(p)
        order = self.books.place(key.account, req, received_us)
        held = self.faults.hold("after", req.symbol, req.client_order_id)
        if held is not None:
            held.order_id = order.order_id
            action = await self.faults.wait(held)
            if action != "reply":
                return self._unanswered(request, action)
        fault = self.faults.take_reply_fault()
        if fault is not None:
            status, code = fault
            if code is not None:
                return json_response({"code": code, "msg": UNKNOWN_OUTCOME[code]}, status)
            return web.Response(status=status, text="<html><body><h1>Server Error</h1>"
                                "</body></html>", content_type="text/html")
        resp = json_response(order.result(req.resp_type))
        resp.headers.update(verdict.headers)
        return resp

    def _still_in_window(self, p: dict[str, str]) -> None:
        """The venue's second timing check, as the order goes to the matching engine: a
        request held past its recvWindow is refused (-1021) and never placed."""
        now = Decimal(repr(self.books.skew.now_ms(self.clock)))
        if now - parse_timestamp(p.get("timestamp")) > parse_recv_window(p.get("recvWindow")):
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")

    @staticmethod
    def _unanswered(request: web.Request, action: str) -> web.Response:
        """A held reply released as ``drop`` (the connection cut) or ``5xx``."""
        if action == "drop" and request.transport is not None:
            request.transport.abort()
        return web.Response(status=503, text="<html><body><h1>503 Service Unavailable</h1>"
                            "</body></html>", content_type="text/html")

    async def test_order(self, request: web.Request) -> web.Response:
        key, p = await self.signed(request)
        compute = p.pop("computeCommissionRates", "false")
        self.books.check(key.account, parse_new_order(p))
        if compute != "true":
            return json_response({})
        rate = f"{self.books.model.fill.commission_bps / 1e4:.8f}"
        zero = "0.00000000"
        return json_response({
            "standardCommissionForOrder": {"maker": rate, "taker": rate},
            "specialCommissionForOrder": {"maker": zero, "taker": zero},
            "taxCommissionForOrder": {"maker": zero, "taker": zero},
            "discount": {"enabledForAccount": False, "enabledForSymbol": False,
                         "discountAsset": "BNB", "discount": zero}})

    def _find(self, key: ApiKey, p: dict[str, str]) -> VenueOrder:
        return self.books.find(key.account, self._symbol(p), _long(p, "orderId"),
                               parse_client_id(p.get("origClientOrderId"), "origClientOrderId"))

    async def query_order(self, request: web.Request) -> web.Response:
        key, p = await self.signed(request)
        order = self._find(key, p)
        if self.faults.hidden(order.time_ms, self.books.now_ms()):
            raise ApiError(-2013, "Order does not exist.")
        return json_response(order.row())

    async def cancel_order(self, request: web.Request) -> web.Response:
        key, p = await self.signed(request)
        symbol = self._symbol(p)
        new_id = parse_client_id(p.get("newClientOrderId")) or None
        order = self.books.cancel(key.account, symbol, _long(p, "orderId"),
                                  parse_client_id(p.get("origClientOrderId"),
                                                  "origClientOrderId"), new_id)
        return json_response(self._cancelled(order))

    @staticmethod
    def _cancelled(order: VenueOrder) -> dict[str, Any]:
        body = {"symbol": order.symbol, "origClientOrderId": order.client_order_id,
                "orderId": order.order_id, "orderListId": -1,
                "clientOrderId": order.cancel_client_id, "transactTime": order.update_ms}
        row = order.row()
        for name in ("price", "origQty", "executedQty", "origQuoteOrderQty",
                     "cummulativeQuoteQty", "status", "timeInForce", "type", "side",
                     "selfTradePreventionMode"):
            body[name] = row[name]
        return body

    async def cancel_open_orders(self, request: web.Request) -> web.Response:
        """Every open order of the symbol cancelled; -2011 when there is none."""
        key, p = await self.signed(request)
        symbol = self._symbol(p)
        open_now = self.books.open_orders(key.account, symbol)
        if not open_now:
            raise ApiError(-2011, "Unknown order sent.")
        return json_response([self._cancelled(self.books.cancel(
            key.account, symbol, o.order_id, None)) for o in open_now])

    async def order_rate(self, request: web.Request) -> web.Response:
        key, _ = await self.signed(request)
        return json_response(self.counter(key.account).rows())

    async def open_orders(self, request: web.Request) -> web.Response:
        key, p = await self.signed(request)
        symbol = self._symbol(p) if "symbol" in p else None
        return json_response([o.row() for o in self.books.open_orders(key.account, symbol)])

    async def all_orders(self, request: web.Request) -> web.Response:
        key, p = await self.signed(request)
        symbol = self._symbol(p)
        rows = [o for o in self.books.orders if o.account == key.account and o.symbol == symbol]
        limit, from_id = _limit(p), _long(p, "orderId")
        if from_id is not None:
            rows = [o for o in rows if o.order_id >= from_id][:limit]
        else:
            rows = _window(rows, lambda o: o.time_ms, _ms(p, "startTime"), _ms(p, "endTime"),
                           limit)
        return json_response([o.row() for o in rows])

    async def my_trades(self, request: web.Request) -> web.Response:
        key, p = await self.signed(request)
        symbol = self._symbol(p)
        rows = [t for t in self.books.trades if t.account == key.account and t.symbol == symbol]
        limit, order_id, from_id = _limit(p), _long(p, "orderId"), _long(p, "fromId")
        start, end = _ms(p, "startTime"), _ms(p, "endTime")
        if (from_id is not None or order_id is not None) and (start is not None
                                                             or end is not None):
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        if order_id is not None:
            rows = [t for t in rows if t.order_id == order_id]
        if from_id is not None:
            rows = [t for t in rows if t.id >= from_id][:limit]
        else:
            rows = _window(rows, lambda t: t.time_ms, start, end, limit)
        return json_response([t.row() for t in rows])

    # --- account ---------------------------------------------------------------------------
    async def account(self, request: web.Request) -> web.Response:
        key, p = await self.signed(request)
        acct = self.books.accounts.get(key.account)
        rate = self.books.model.fill.commission_bps
        rates = f"{rate / 1e4:.8f}"
        return json_response({
            "makerCommission": int(rate), "takerCommission": int(rate),
            "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": rates, "taker": rates, "buyer": "0.00000000",
                                "seller": "0.00000000"},
            "canTrade": True, "canWithdraw": key.enable_withdrawals, "canDeposit": True,
            "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": acct.update_ms, "accountType": "SPOT",
            "balances": acct.rows(p.get("omitZeroBalances") == "true"),
            "permissions": list(key.permissions), "uid": 1000 + sorted(
                self.books.accounts.accounts).index(key.account)})

    async def api_restrictions(self, request: web.Request) -> web.Response:
        key, _ = await self.signed(request)
        return json_response({
            "ipRestrict": False, "createTime": 1_700_000_000_000, "enableReading": True,
            "enableWithdrawals": key.enable_withdrawals, "enableInternalTransfer": False,
            "enableMargin": False, "enableFutures": False, "permitsUniversalTransfer": False,
            "enableVanillaOptions": False, "enableFixApiTrade": False,
            "enableFixReadOnly": False, "enableSpotAndMarginTrading": True,
            "enablePortfolioMarginTrading": False})
