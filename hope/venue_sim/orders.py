"""The stand-in's order and trade records in the venue's JSON shapes, and the parsing of a
new order's parameters (``POST /api/v3/order``), with the venue's codes for each refusal.

Order types served: ``MARKET`` (by ``quantity`` or ``quoteOrderQty``), ``LIMIT`` (``GTC``,
``IOC``, ``FOK``) and ``STOP_LOSS_LIMIT`` (a protective stop); other documented types are
refused with -1116. ``newClientOrderId`` must match ``^[\\.A-Z\\:/a-z0-9_-]{1,36}$``; when
absent the stand-in makes one (22 characters, as the venue does).
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hope.venue_sim.filters import ZERO, fmt8, parse_decimal
from hope.venue_sim.rest import ApiError

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
TYPES = ("MARKET", "LIMIT", "STOP_LOSS_LIMIT")
DOCUMENTED_TYPES = TYPES + ("LIMIT_MAKER", "STOP_LOSS", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
TIFS = ("GTC", "IOC", "FOK")
RESP_TYPES = ("ACK", "RESULT", "FULL")
OPEN = ("NEW", "PARTIALLY_FILLED", "PENDING_NEW")
_ID_CHARS = string.ascii_letters + string.digits


def new_client_id() -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(22))


@dataclass
class VenueTrade:
    """One fill of one order (a row of ``/myTrades``; ``id`` is the venue's trade id)."""

    symbol: str
    id: int
    order_id: int
    account: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_buyer: bool
    is_maker: bool

    def row(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "id": self.id, "orderId": self.order_id,
                "orderListId": -1, "price": fmt8(self.price), "qty": fmt8(self.qty),
                "quoteQty": fmt8(self.quote_qty), "commission": fmt8(self.commission),
                "commissionAsset": self.commission_asset, "time": self.time_ms,
                "isBuyer": self.is_buyer, "isMaker": self.is_maker, "isBestMatch": True}

    def fill(self) -> dict[str, Any]:
        """The entry of a FULL order response's ``fills``."""
        return {"price": fmt8(self.price), "qty": fmt8(self.qty),
                "commission": fmt8(self.commission), "commissionAsset": self.commission_asset,
                "tradeId": self.id}


@dataclass
class NewOrder:
    """A validated ``POST /api/v3/order``."""

    symbol: str
    side: str
    type: str
    client_order_id: str
    time_in_force: str = "GTC"
    quantity: Decimal | None = None
    quote_qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    resp_type: str = "FULL"


@dataclass
class VenueOrder:
    symbol: str
    order_id: int
    account: str
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    orig_quote_qty: Decimal
    stop_price: Decimal
    time_ms: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cumm_quote: Decimal = ZERO
    update_ms: int = 0
    working: bool = True
    locked_asset: str = ""
    locked: Decimal = ZERO               # what this order still holds locked
    checked: int = 0                     # published trades already matched against
    fills: list[VenueTrade] = field(default_factory=list)
    expiry_reason: str = ""
    cancel_client_id: str = ""           # the cancel request's own client id
    received_us: int = 0                 # wall µs the order request reached the endpoint

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    def ack(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_order_id, "transactTime": self.time_ms}

    def _core(self) -> dict[str, Any]:
        return {"price": fmt8(self.price), "origQty": fmt8(self.orig_qty),
                "executedQty": fmt8(self.executed_qty),
                "origQuoteOrderQty": fmt8(self.orig_quote_qty),
                "cummulativeQuoteQty": fmt8(self.cumm_quote), "status": self.status,
                "timeInForce": self.time_in_force, "type": self.type, "side": self.side}

    def _conditional(self, body: dict[str, Any]) -> dict[str, Any]:
        """The documented conditional fields: ``stopPrice`` of stops, ``expiryReason``."""
        if self.type == "STOP_LOSS_LIMIT":
            body["stopPrice"] = fmt8(self.stop_price)
        if self.status == "EXPIRED" and self.expiry_reason:
            body["expiryReason"] = self.expiry_reason
        return body

    def result(self, resp_type: str) -> dict[str, Any]:
        """The order response for ``newOrderRespType`` ACK, RESULT or FULL."""
        body = self.ack()
        if resp_type == "ACK":
            return body
        body.update(self._core())
        body["workingTime"] = self.time_ms if self.working else -1
        body["selfTradePreventionMode"] = "NONE"
        self._conditional(body)
        if resp_type == "FULL":
            body["fills"] = [t.fill() for t in self.fills]
        return body

    def row(self) -> dict[str, Any]:
        """The shape of ``GET /api/v3/order``, ``openOrders`` and ``allOrders``."""
        row = {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
               "clientOrderId": self.client_order_id, **self._core(),
               "stopPrice": fmt8(self.stop_price), "icebergQty": fmt8(ZERO),
               "time": self.time_ms, "updateTime": self.update_ms or self.time_ms,
               "isWorking": self.working, "workingTime": self.time_ms if self.working else -1,
               "selfTradePreventionMode": "NONE"}
        return self._conditional(row)

    def book_row(self) -> dict[str, Any]:
        """The admin view: the order row with its account and every fill."""
        return {**self.row(), "account": self.account, "expiryReason": self.expiry_reason,
                "receivedUs": self.received_us, "fills": [t.row() for t in self.fills]}


def _mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or "
                           "malformed.")


def _not_required(name: str) -> ApiError:
    return ApiError(-1106, f"Parameter '{name}' sent when not required.")


def parse_client_id(raw: str | None, name: str = "newClientOrderId") -> str | None:
    if raw is None:
        return None
    if not CLIENT_ID_RE.match(raw):
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range "
                              "is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
    return raw


def parse_new_order(p: dict[str, str]) -> NewOrder:
    """The order in ``p`` (the request's parameters) or the venue's refusal."""
    symbol = p.get("symbol") or ""
    if not symbol:
        raise _mandatory("symbol")
    side, kind = p.get("side"), p.get("type")
    if not side:
        raise _mandatory("side")
    if side not in ("BUY", "SELL"):
        raise ApiError(-1117, "Invalid side.")
    if not kind:
        raise _mandatory("type")
    if kind not in TYPES:
        raise ApiError(-1116, "Invalid orderType.")
    resp = p.get("newOrderRespType", "FULL" if kind in ("MARKET", "LIMIT") else "ACK")
    if resp not in RESP_TYPES:
        raise ApiError(-1100, "Illegal characters found in parameter 'newOrderRespType'; "
                              "legal range is 'ACK, RESULT, FULL'.")
    order = NewOrder(symbol, side, kind, parse_client_id(p.get("newClientOrderId"))
                     or new_client_id(), resp_type=resp,
                     quantity=parse_decimal(p.get("quantity"), "quantity"),
                     quote_qty=parse_decimal(p.get("quoteOrderQty"), "quoteOrderQty"),
                     price=parse_decimal(p.get("price"), "price"),
                     stop_price=parse_decimal(p.get("stopPrice"), "stopPrice"))
    tif = p.get("timeInForce")
    if kind == "MARKET":
        for name in ("timeInForce", "price", "stopPrice"):
            if p.get(name) is not None:
                raise _not_required(name)
        if order.quantity is None and order.quote_qty is None:
            raise ApiError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both "
                                  "were empty/null!")
        if order.quantity is not None and order.quote_qty is not None:
            raise _not_required("quoteOrderQty")
        return order
    if order.quote_qty is not None:
        raise _not_required("quoteOrderQty")
    for name, value in (("timeInForce", tif), ("quantity", order.quantity),
                        ("price", order.price)):
        if value is None:
            raise _mandatory(name)
    if kind == "STOP_LOSS_LIMIT" and order.stop_price is None:
        raise _mandatory("stopPrice")
    if kind == "LIMIT" and order.stop_price is not None:
        raise _not_required("stopPrice")
    if tif not in TIFS:
        raise ApiError(-1115, "Invalid timeInForce.")
    order.time_in_force = tif
    return order
