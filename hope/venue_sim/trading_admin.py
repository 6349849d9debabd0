"""The stand-in's own endpoints for its trading side, under ``/sim/v1`` (not the venue's; never
weighed, never faulted): its books as the ground truth for tests and chaos, and trading
fault knobs.

Wire::

    GET  /sim/v1/orders[?account=main&symbol=EVXBTC]
    <- {"orders": [{"symbol": "EVXBTC", "orderId": 1, "clientOrderId": "hope-...",
                    "status": "FILLED", "side": "BUY", "type": "MARKET", "origQty": "...",
                    "executedQty": "...", "cummulativeQuoteQty": "...", "time": ms,
                    "account": "main", "expiryReason": "", "fills": [<myTrades row>...]}]}
    GET  /sim/v1/trades[?account=&symbol=]
    <- {"trades": [{"symbol": "EVXBTC", "id": 1, "orderId": 1, "price": "...", "qty": "...",
                    "quoteQty": "...", "commission": "...", "commissionAsset": "BTC",
                    "time": ms, "isBuyer": true, "isMaker": false, "account": "main"}]}
    GET  /sim/v1/accounts
    <- {"accounts": {"main": [{"asset": "BTC", "free": "0.99", "locked": "0.00000000"}]}}
    POST /sim/v1/reset   {}                      (a testnet reset: books and balances wiped)
    <- {"result": "ok", "orders_wiped": 3}
    POST /sim/v1/clock   {"skew_ms": -2500}      (the venue's clock this far off)
    <- {"result": "ok", "skew_ms": -2500}
    errors: 400 {"error": "..."}
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hope.venue_sim.book import Books
from hope.venue_sim.faults import ClockSkew


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        return _json({"error": "body: not JSON"}, 400)
    if not isinstance(body, dict):
        return _json({"error": "body: expected an object"}, 400)
    return body


class TradingAdmin:
    def __init__(self, books: Books, skew: ClockSkew) -> None:
        self.books = books
        self.skew = skew

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/sim/v1/orders", self.orders)
        r.add_get("/sim/v1/trades", self.trades)
        r.add_get("/sim/v1/accounts", self.accounts)
        r.add_post("/sim/v1/reset", self.reset)
        r.add_post("/sim/v1/clock", self.clock)

    @staticmethod
    def _match(request: web.Request, item: Any) -> bool:
        q = request.query
        return ((q.get("account") in (None, item.account))
                and (q.get("symbol") in (None, item.symbol)))

    async def orders(self, request: web.Request) -> web.Response:
        self.books.advance()
        return _json({"orders": [o.book_row() for o in self.books.orders
                                 if self._match(request, o)]})

    async def trades(self, request: web.Request) -> web.Response:
        self.books.advance()
        return _json({"trades": [{**t.row(), "account": t.account} for t in self.books.trades
                                 if self._match(request, t)]})

    async def accounts(self, request: web.Request) -> web.Response:
        self.books.advance()
        return _json({"accounts": {name: acct.rows()
                                   for name, acct in self.books.accounts.accounts.items()}})

    async def reset(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        wiped = len(self.books.orders)
        self.books.wipe()
        return _json({"result": "ok", "orders_wiped": wiped})

    async def clock(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        skew = body.get("skew_ms")
        if isinstance(skew, bool) or not isinstance(skew, (int, float)):
            return _json({"error": "skew_ms: a number (ms, + ahead, - behind)"}, 400)
        self.skew.offset_ms = float(skew)
        return _json({"result": "ok", "skew_ms": skew})
