"""Symbol filters checked on a new order, as filters.md defines them, read from the symbol's
``exchangeInfo`` entry (one source for what is published and what is enforced).

A failure is ``-1013`` with ``"Filter failure: <FILTER>"`` (HTTP 400). ``MARKET`` orders have no
price: the notional rules use the last trade price (the venue uses an average of recent prices
over ``avgPriceMins``; the stand-in's recorded trades change slowly enough for the difference
not to matter) or ``quoteOrderQty`` when that is how the order was sized.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from hope.venue_sim.rest import ApiError

_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
ZERO = Decimal(0)


def parse_decimal(raw: str | None, name: str, mandatory: bool = False) -> Decimal | None:
    """A DECIMAL parameter: -1102 when mandatory and missing, -1100 when not a number."""
    if raw is None or raw == "":
        if mandatory:
            raise ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                                  "or malformed.")
        return None
    if not _DECIMAL.match(raw):
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                              "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None


def fmt8(value: Decimal) -> str:
    """A quantity or price as the venue writes it: fixed point, 8 decimals."""
    return f"{value.quantize(Decimal('0.00000001')):f}"


def _fail(name: str) -> ApiError:
    return ApiError(-1013, f"Filter failure: {name}")


def _on_step(value: Decimal, minimum: Decimal, step: Decimal) -> bool:
    return step == 0 or (value - minimum) % step == 0


def floor_step(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step`` (unchanged when step is 0)."""
    return value if step == 0 else (value // step) * step


class SymbolFilters:
    """The filters of one symbol's exchangeInfo entry, by type, values as Decimal."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.by_type: dict[str, dict[str, Any]] = {}
        for f in entry.get("filters", []):
            self.by_type[f["filterType"]] = {
                k: (Decimal(v) if isinstance(v, str) else v) for k, v in f.items()
                if k != "filterType"}

    def get(self, name: str) -> dict[str, Any] | None:
        return self.by_type.get(name)

    @property
    def step(self) -> Decimal:
        lot = self.get("LOT_SIZE")
        return lot["stepSize"] if lot else ZERO

    def check_price(self, price: Decimal) -> None:
        f = self.get("PRICE_FILTER")
        if f is None:
            return
        if ((f["minPrice"] > 0 and price < f["minPrice"])
                or (f["maxPrice"] > 0 and price > f["maxPrice"])
                or (f["tickSize"] > 0 and not _on_step(price, f["minPrice"], f["tickSize"]))):
            raise _fail("PRICE_FILTER")

    def check_quantity(self, qty: Decimal, market: bool) -> None:
        names = ("LOT_SIZE", "MARKET_LOT_SIZE") if market else ("LOT_SIZE",)
        for name in names:
            f = self.get(name)
            if f is None:
                continue
            if ((f["minQty"] > 0 and qty < f["minQty"])
                    or (f["maxQty"] > 0 and qty > f["maxQty"])
                    or not _on_step(qty, f["minQty"], f["stepSize"])):
                raise _fail(name)

    def check_notional(self, notional: Decimal, market: bool) -> None:
        f = self.get("NOTIONAL")
        if f is not None:
            apply_min = f.get("applyMinToMarket", True) or not market
            apply_max = f.get("applyMaxToMarket", False) or not market
            if ((apply_min and notional < f["minNotional"])
                    or (apply_max and f["maxNotional"] > 0 and notional > f["maxNotional"])):
                raise _fail("NOTIONAL")
        f = self.get("MIN_NOTIONAL")
        if (f is not None and (f.get("applyToMarket", True) or not market)
                and notional < f["minNotional"]):
            raise _fail("MIN_NOTIONAL")
