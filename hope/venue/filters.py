"""Local pre-checks against the symbol's ``exchangeInfo`` filters, before anything is sent.

Quantities are ``Decimal`` and rounded *down* to the step (never more than HOPE holds or may
spend). A check that fails raises :class:`FilterRefusal` naming the venue's filter
(``LOT_SIZE``, ``MARKET_LOT_SIZE``, ``NOTIONAL``/``MIN_NOTIONAL``, ``PRICE_FILTER``, or
``status``/``orderTypes``); the executor turns it into ORDER REJECTED and sends nothing.

MARKET orders: a BUY spends ``quoteOrderQty`` (rounded down to the quote precision); its
quantity, estimated at the last price, must fit the lot filters. A SELL sells ``quantity``
rounded down to the step. Notional checks use the last price (the venue uses its average
price over ``avgPriceMins``; a price in flux may still be refused there, with -1013).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

ZERO = Decimal(0)


class FilterRefusal(ValueError):
    """A local check failed; ``filter`` is the venue's filter name (or ``status``)."""

    def __init__(self, filter_name: str, detail: str) -> None:
        super().__init__(f"{filter_name}: {detail}")
        self.filter = filter_name
        self.detail = detail


def _dec(value: Any, where: str) -> Decimal:
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{where}: {value!r} is not a number") from None
    if not out.is_finite():
        raise ValueError(f"{where}: {value!r} is not finite")
    return out


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step`` (a step of 0: unchanged)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def _places(precision: int) -> Decimal:
    return Decimal(1).scaleb(-precision)


@dataclass(frozen=True)
class SymbolRules:
    symbol: str
    base: str
    quote: str
    status: str = "TRADING"
    market_allowed: bool = True
    quote_order_qty_allowed: bool = True
    base_precision: int = 8
    quote_precision: int = 8
    min_price: Decimal = ZERO
    max_price: Decimal = ZERO
    tick_size: Decimal = ZERO
    min_qty: Decimal = ZERO
    max_qty: Decimal = ZERO
    step_size: Decimal = ZERO
    market_min_qty: Decimal = ZERO
    market_max_qty: Decimal = ZERO
    market_step: Decimal = ZERO
    min_notional: Decimal = ZERO
    min_notional_filter: str = "NOTIONAL"
    max_notional: Decimal = ZERO  # 0: none for MARKET orders

    @classmethod
    def from_symbol_info(cls, info: dict[str, Any]) -> SymbolRules:
        """From one ``exchangeInfo.symbols[]`` entry; unknown filters are ignored."""
        sym = str(info.get("symbol", "?"))
        kw: dict[str, Any] = {
            "symbol": sym, "base": str(info["baseAsset"]), "quote": str(info["quoteAsset"]),
            "status": str(info.get("status", "TRADING")),
            "market_allowed": "MARKET" in info.get("orderTypes", ["MARKET"]),
            "quote_order_qty_allowed": bool(info.get("quoteOrderQtyMarketAllowed", True)),
            "base_precision": int(info.get("baseAssetPrecision", 8)),
            "quote_precision": int(info.get("quoteAssetPrecision",
                                            info.get("quotePrecision", 8))),
        }
        for f in info.get("filters", []):
            kind, w = f.get("filterType"), f"{sym}.{f.get('filterType')}"
            if kind == "PRICE_FILTER":
                kw.update(min_price=_dec(f["minPrice"], w), max_price=_dec(f["maxPrice"], w),
                          tick_size=_dec(f["tickSize"], w))
            elif kind == "LOT_SIZE":
                kw.update(min_qty=_dec(f["minQty"], w), max_qty=_dec(f["maxQty"], w),
                          step_size=_dec(f["stepSize"], w))
            elif kind == "MARKET_LOT_SIZE":
                kw.update(market_min_qty=_dec(f["minQty"], w),
                          market_max_qty=_dec(f["maxQty"], w), market_step=_dec(f["stepSize"], w))
            elif kind == "NOTIONAL":
                if f.get("applyMinToMarket", True):
                    kw.update(min_notional=_dec(f["minNotional"], w), min_notional_filter=kind)
                if f.get("applyMaxToMarket", False):
                    kw.update(max_notional=_dec(f["maxNotional"], w))
            elif kind == "MIN_NOTIONAL" and f.get("applyToMarket", True):
                kw.update(min_notional=_dec(f["minNotional"], w), min_notional_filter=kind)
        return cls(**kw)

    @property
    def step(self) -> Decimal:
        """The quantity step of a MARKET order: MARKET_LOT_SIZE's if set, else LOT_SIZE's."""
        return self.market_step if self.market_step > 0 else self.step_size

    def round_qty(self, quantity: Decimal) -> Decimal:
        return round_down(quantity, self.step)

    # --- the checks ---------------------------------------------------------------------------
    def _tradable(self) -> None:
        if self.status != "TRADING":
            raise FilterRefusal("status", f"{self.symbol} is {self.status}, not TRADING")
        if not self.market_allowed:
            raise FilterRefusal("orderTypes", f"{self.symbol} takes no MARKET orders")

    def _price(self, price: Decimal) -> None:
        if price <= 0:
            raise FilterRefusal("PRICE_FILTER", f"no market price for {self.symbol}")

    def _lots(self, qty: Decimal, what: str) -> None:
        for name, low, high in (("LOT_SIZE", self.min_qty, self.max_qty),
                                ("MARKET_LOT_SIZE", self.market_min_qty, self.market_max_qty)):
            if qty < low or qty <= 0:
                raise FilterRefusal(name, f"{what} {qty} below minQty {low}")
            if high > 0 and qty > high:
                raise FilterRefusal(name, f"{what} {qty} above maxQty {high}")

    def _notional(self, notional: Decimal) -> None:
        if notional < self.min_notional:
            raise FilterRefusal(self.min_notional_filter,
                                f"notional {notional} {self.quote} below minNotional "
                                f"{self.min_notional}")
        if self.max_notional > 0 and notional > self.max_notional:
            raise FilterRefusal("NOTIONAL", f"notional {notional} {self.quote} above "
                                            f"maxNotional {self.max_notional}")

    def market_buy(self, quote_amount: Decimal, price: Decimal) -> Decimal:
        """The ``quoteOrderQty`` to send for a MARKET BUY spending ``quote_amount``."""
        self._tradable()
        if not self.quote_order_qty_allowed:
            raise FilterRefusal("quoteOrderQtyMarketAllowed", f"{self.symbol} refuses it")
        self._price(price)
        spend = round_down(quote_amount, _places(self.quote_precision))
        self._notional(spend)
        self._lots(self.round_qty(spend / price), "estimated quantity")
        return spend

    def market_sell(self, quantity: Decimal, price: Decimal) -> Decimal:
        """The ``quantity`` to send for a MARKET SELL of what HOPE holds (rounded down)."""
        self._tradable()
        self._price(price)
        qty = self.round_qty(round_down(quantity, _places(self.base_precision)))
        self._lots(qty, "quantity")
        self._notional(qty * price)
        return qty


def rules_from_exchange_info(body: dict[str, Any]) -> dict[str, SymbolRules]:
    """``{symbol: SymbolRules}`` from an ``exchangeInfo`` answer."""
    return {r.symbol: r for r in (SymbolRules.from_symbol_info(s)
                                  for s in body.get("symbols", []))}


def decimal_text(value: Decimal) -> str:
    """A Decimal as the venue wants it: plain notation, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
