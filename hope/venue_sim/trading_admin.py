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
    POST /sim/v1/trading-fault   (hope.venue_sim.trading_faults)
         {"kind": "reply_5xx", "status": 503, "count": 1}   placed, but the reply is a 5xx
         {"kind": "reply_error", "code": -1006, "count": 1} placed, but the reply is -1006
                          (-1007: HTTP 408, the default; -1006, -1001: 500; "status" sets it)
         {"kind": "reply_1007", "count": 1}                 as reply_error with -1007
         {"kind": "not_found", "ms": 3000}                  GET /order: -2013 for 3 s after
         {"kind": "stream_drop", "after_events": 1}         user streams cut after 1 event
         {"kind": "partial_fills", "parts": 3}              each taker order in 3 fills
         {"kind": "commission_asset", "asset": "base"}      fees in the asset received
         {"kind": "expire_in_match", "count": 1}            next taker order EXPIRED_IN_MATCH
         {"kind": "ban", "after": 5, "count_429": 2, "ban_s": 30}   429 x2, then 418 30 s
         {"kind": "hold", "count": 1, "when": "after"}      hold the next order's reply
         {"kind": "clock_skew", "ms": -2500}                as POST /sim/v1/clock
         {"kind": "reset"}                                  as POST /sim/v1/reset
         {"kind": "clear"}                                  reply/not_found/ban/hold off
    <- {"result": "ok"}            (stream_drop: {"result": "ok", "connections": 1})
    GET  /sim/v1/held?wait_s=10     (waits for a held order up to wait_s, at most 60)
    <- {"held": [{"hold_id": 1, "when": "after", "symbol": "EVXBTC",
                  "clientOrderId": "...", "orderId": 7}]}
    POST /sim/v1/release {"hold_id": 1, "action": "reply" | "drop" | "5xx"}
    <- {"result": "ok", "released": 1}        (no hold_id: every held reply)
    GET  /sim/v1/sent?symbol=EVXBTC&from_id=100&to_id=120
    <- {"symbol": "EVXBTC", "sent_us": {"100": 1796127522216123, ...}}  (frame handed out, µs)
    errors: 400 {"error": "..."}
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hope.venue_sim.book import Books
from hope.venue_sim.faults import ClockSkew
from hope.venue_sim.trading_faults import TradingFaults
from hope.venue_sim.ws_api import WsApi


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


def _count(body: dict[str, Any], name: str, default: int = 1) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: an integer >= 0")
    return value


def _number(body: dict[str, Any], name: str, default: float = 0.0) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name}: a number >= 0")
    return float(value)


class TradingAdmin:
    def __init__(self, books: Books, skew: ClockSkew, faults: TradingFaults,
                 ws_api: WsApi, sent_us: dict[str, dict[int, int]] | None = None) -> None:
        self.books = books
        self.sent_us = sent_us if sent_us is not None else {}
        self.skew = skew
        self.faults = faults
        self.ws_api = ws_api

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/sim/v1/orders", self.orders)
        r.add_get("/sim/v1/trades", self.trades)
        r.add_get("/sim/v1/accounts", self.accounts)
        r.add_post("/sim/v1/reset", self.reset)
        r.add_post("/sim/v1/clock", self.clock)
        r.add_post("/sim/v1/trading-fault", self.trading_fault)
        r.add_get("/sim/v1/held", self.held)
        r.add_post("/sim/v1/release", self.release)
        r.add_get("/sim/v1/sent", self.sent)

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
        return _json({"result": "ok", "orders_wiped": self._wipe()})

    def _wipe(self) -> int:
        wiped = len(self.books.orders)
        self.books.wipe()
        return wiped

    async def clock(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        skew = body.get("skew_ms")
        if isinstance(skew, bool) or not isinstance(skew, (int, float)):
            return _json({"error": "skew_ms: a number (ms, + ahead, - behind)"}, 400)
        self.skew.offset_ms = float(skew)
        return _json({"result": "ok", "skew_ms": skew})

    async def trading_fault(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        try:
            return _json({"result": "ok", **self._apply(body)})
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)

    def _apply(self, body: dict[str, Any]) -> dict[str, Any]:
        kind, f = body.get("kind"), self.faults
        if kind == "reply_5xx":
            status = _count(body, "status", 503)
            if not 500 <= status <= 599:
                raise ValueError("status: 500..599")
            f.set_reply(status, _count(body, "count"))
        elif kind in ("reply_error", "reply_1007"):
            code = body.get("code", -1007) if kind == "reply_error" else -1007
            f.set_reply(_count(body, "status", 408 if code == -1007 else 500),
                        _count(body, "count"), code)
        elif kind == "not_found":
            f.not_found_ms = _number(body, "ms")
        elif kind == "stream_drop":
            return {"connections": self.ws_api.drop_after(_count(body, "after_events", 0))}
        elif kind == "partial_fills":
            parts = _count(body, "parts", 2)
            if parts < 1:
                raise ValueError("parts: >= 1")
            self.books.partial_fills = parts
        elif kind == "commission_asset":
            if body.get("asset") not in ("quote", "base"):
                raise ValueError("asset: 'quote' or 'base'")
            self.books.commission_asset = body["asset"]
        elif kind == "ban":
            f.set_ban(_count(body, "after", 0), _count(body, "count_429", 1),
                      _number(body, "ban_s", 120.0))
        elif kind == "hold":
            f.set_hold(_count(body, "count"), str(body.get("when", "after")))
        elif kind == "expire_in_match":
            self.books.expire_in_match = _count(body, "count")
        elif kind == "clock_skew":
            skew = body.get("ms")
            if isinstance(skew, bool) or not isinstance(skew, (int, float)):
                raise ValueError("ms: a number (+ ahead, - behind)")
            self.skew.offset_ms = float(skew)
        elif kind == "reset":
            return {"orders_wiped": self._wipe()}
        elif kind == "clear":
            f.set_reply(0, 0)
            f.not_found_ms, f.ban, f.hold_count = 0.0, None, 0
            self.books.expire_in_match = 0
        else:
            raise ValueError(f"kind: one of {', '.join(FAULT_KINDS)}")
        return {}

    async def held(self, request: web.Request) -> web.Response:
        try:
            wait_s = float(request.query.get("wait_s", "0"))
        except ValueError:
            return _json({"error": "wait_s: a number of seconds"}, 400)
        held = await self.faults.wait_held(min(max(wait_s, 0.0), 60.0))
        return _json({"held": [h.row() for h in held]})

    async def release(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        hold_id = body.get("hold_id")
        if hold_id is not None and (isinstance(hold_id, bool) or not isinstance(hold_id, int)):
            return _json({"error": "hold_id: an integer (omit it to release every hold)"}, 400)
        try:
            released = self.faults.release(hold_id, str(body.get("action", "reply")))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"result": "ok", "released": released})


    async def sent(self, request: web.Request) -> web.Response:
        """When the frames of aggregate ids ``from_id``..``to_id`` (at most 10,000) of a symbol
        were handed to connections, wall µs (ids never sent, or forgotten, are absent)."""
        q = request.query
        sent = self.sent_us.get(q.get("symbol", ""))
        if sent is None:
            return _json({"error": "symbol: a served symbol"}, 400)
        try:
            lo = int(q.get("from_id", "0"))
            hi = int(q.get("to_id", str(lo + 9_999)))
        except ValueError:
            return _json({"error": "from_id, to_id: aggregate ids"}, 400)
        hi = min(hi, lo + 9_999)
        return _json({"symbol": q["symbol"],
                      "sent_us": {str(i): sent[i] for i in range(lo, hi + 1) if i in sent}})

FAULT_KINDS = ("reply_5xx", "reply_error", "reply_1007", "not_found", "stream_drop",
               "partial_fills", "commission_asset", "expire_in_match", "ban", "hold",
               "clock_skew", "reset", "clear")
