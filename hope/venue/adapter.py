"""Binance spot as the executor sees it: MARKET orders by client order id, queries, balances.

``BinanceVenue`` holds the symbols' filters (``exchangeInfo``, re-read on demand), the last
PRICE per symbol (for the local notional checks; the executor feeds it), and the raw replies
collected for the audit log (:meth:`take_replies`). Every order goes out with
``newOrderRespType=FULL`` and HOPE's client order id; nothing here retries an order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hope.venue.errors import NO_SUCH_ORDER, VenueRefused
from hope.venue.filters import SymbolRules, decimal_text, rules_from_exchange_info
from hope.venue.orders import HOPE_PREFIX, VenueFill, VenueOrder, check_client_id
from hope.venue.rest import Reply, VenueRest

ORDER = "/api/v3/order"
# request weights from the venue's documentation (spot, 2026)
WEIGHTS = {"order": 1, "query": 4, "cancel": 1, "open_orders_all": 80, "open_orders": 6,
           "account": 20, "my_trades": 5, "exchange_info": 20, "restrictions": 1}


class WithdrawalsEnabled(ValueError):
    """The API key may withdraw: HOPE refuses to trade with it."""


class BinanceVenue:
    name = "binance"

    def __init__(self, rest: VenueRest, *, prefix: str = HOPE_PREFIX) -> None:
        self.rest = rest
        self.prefix = prefix
        self.rules: dict[str, SymbolRules] = {}
        self.rate_limits: list[dict[str, Any]] = []
        self._prices: dict[str, tuple[float, float]] = {}
        self._replies: list[Reply] = []
        self.usage: dict[str, str] = {}   # the last usage headers the venue sent (weight, orders)
        self.requests = 0
        rest.on_reply = self._on_reply

    # --- what the executor reads --------------------------------------------------------------
    def set_price(self, symbol: str, price: float, market_ts: float) -> None:
        self._prices[symbol] = (float(price), float(market_ts))

    def price(self, symbol: str) -> tuple[float, float] | None:
        return self._prices.get(symbol)

    def _on_reply(self, reply: Reply) -> None:
        self.requests += 1
        self.usage.update(reply.headers)
        self._replies.append(reply)

    def take_replies(self) -> list[Reply]:
        out, self._replies[:] = list(self._replies), []
        return out

    # --- start-up -----------------------------------------------------------------------------
    async def load_rules(self) -> dict[str, SymbolRules]:
        body = await self.rest.public("GET", "/api/v3/exchangeInfo",
                                      weight=WEIGHTS["exchange_info"])
        self.rules = rules_from_exchange_info(body)
        self.rate_limits = list(body.get("rateLimits", []))
        return self.rules

    async def check_restrictions(self) -> dict[str, Any] | None:
        """Refuse a key that may withdraw (``enableWithdrawals``). None where the venue has no
        ``/sapi`` (the testnet, the stand-in answer 404): nothing to check there."""
        try:
            body = await self.rest.signed("GET", "/sapi/v1/account/apiRestrictions",
                                          weight=WEIGHTS["restrictions"])
        except VenueRefused as exc:
            if exc.http_status == 404:
                return None
            raise
        if isinstance(body, dict) and body.get("enableWithdrawals"):
            raise WithdrawalsEnabled(
                "API key restriction enableWithdrawals is true: create a key without "
                "withdrawal permission (\"Enable Withdrawals\" off) for HOPE")
        return body

    # --- orders -------------------------------------------------------------------------------
    async def market_buy(self, client_id: str, symbol: str, quote_qty: Decimal) -> VenueOrder:
        return await self._place(client_id, symbol, "BUY", quoteOrderQty=decimal_text(quote_qty))

    async def market_sell(self, client_id: str, symbol: str, quantity: Decimal) -> VenueOrder:
        return await self._place(client_id, symbol, "SELL", quantity=decimal_text(quantity))

    async def _place(self, client_id: str, symbol: str, side: str, **amount: str) -> VenueOrder:
        params = {"symbol": symbol, "side": side, "type": "MARKET", **amount,
                  "newClientOrderId": check_client_id(client_id), "newOrderRespType": "FULL"}
        body = await self.rest.signed("POST", ORDER, params, weight=WEIGHTS["order"],
                                      is_order=True)
        return VenueOrder.parse(body)

    async def query(self, symbol: str, client_id: str, *, with_fills: bool = True
                    ) -> VenueOrder | None:
        """The order with this client id, with its fills; None on -2013 NO_SUCH_ORDER."""
        try:
            body = await self.rest.signed("GET", ORDER, {"symbol": symbol,
                                                         "origClientOrderId": client_id},
                                          weight=WEIGHTS["query"])
        except VenueRefused as exc:
            if exc.code == NO_SUCH_ORDER:
                return None
            raise
        order = VenueOrder.parse(body)
        if with_fills and order.executed_qty > 0:
            order = order.with_fills(await self.trades(symbol, order.order_id))
        return order

    async def trades(self, symbol: str, order_id: int) -> list[VenueFill]:
        rows = await self.rest.signed("GET", "/api/v3/myTrades",
                                      {"symbol": symbol, "orderId": order_id},
                                      weight=WEIGHTS["my_trades"])
        return [VenueFill.parse(r) for r in rows or []]

    async def cancel(self, symbol: str, client_id: str) -> VenueOrder | None:
        """Cancel by client id; None when the venue no longer has it open (-2011/-2013)."""
        try:
            body = await self.rest.signed("DELETE", ORDER, {"symbol": symbol,
                                                            "origClientOrderId": client_id},
                                          weight=WEIGHTS["cancel"])
        except VenueRefused as exc:
            if exc.code in (-2011, NO_SUCH_ORDER):
                return None
            raise
        return VenueOrder.parse(body)

    async def open_orders(self) -> list[VenueOrder]:
        rows = await self.rest.signed("GET", "/api/v3/openOrders",
                                      weight=WEIGHTS["open_orders_all"])
        return [VenueOrder.parse(r) for r in rows or []]

    async def hope_open_orders(self) -> list[VenueOrder]:
        return [o for o in await self.open_orders() if o.client_id.startswith(self.prefix)]

    async def balances(self) -> dict[str, Decimal]:
        """free + locked per asset (assets at zero left out)."""
        body = await self.rest.signed("GET", "/api/v3/account", {"omitZeroBalances": "true"},
                                      weight=WEIGHTS["account"])
        out: dict[str, Decimal] = {}
        for b in body.get("balances", []):
            total = Decimal(str(b.get("free", "0"))) + Decimal(str(b.get("locked", "0")))
            if total:
                out[str(b["asset"])] = total
        return out

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return False  # nothing local to fsync: the venue's book is the venue's

    def sync(self) -> bool:
        return False

    async def aclose(self) -> None:
        await self.rest.close()

    def close(self) -> None:
        """Synchronous close for the service's stop/kill: the session dies with the process."""
