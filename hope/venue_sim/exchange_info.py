"""``GET /api/v3/exchangeInfo``: the symbols the stand-in serves, their status and filters,
and the rate limits, in the venue's shape.

Base and quote assets are split off by the known quote currencies (``EVXBTC`` → EVX, BTC).
Filters are derived from the recorded data so they fit it: ``tickSize`` and ``stepSize`` are
the finest decimals seen in the prices and quantities (at most 8), ``minNotional`` as on the
venue for the quote (0.0001 BTC, 0.001 ETH, 5 USDT).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hope.venue_sim.market import Market, SymbolTape

QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
MIN_NOTIONAL = {"BTC": "0.00010000", "ETH": "0.00100000", "BNB": "0.01000000"}
STATUSES = ("TRADING", "HALT", "BREAK", "END_AUCTION", "PRE_TRADING", "POST_TRADING",
            "AUCTION_MATCH")
ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
               "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"]


def rate_limits(weight_limit: int, orders_10s: int = 100,
                orders_day: int = 200_000) -> list[dict[str, Any]]:
    """The ``rateLimits`` array (the venue's current values; every limit configurable)."""
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
         "limit": weight_limit},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
         "limit": orders_10s},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1,
         "limit": orders_day},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
         "limit": 61000},
    ]


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote): ``EVXBTC`` → ("EVX", "BTC"); unknown quotes split as the last 3 letters."""
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol[:-3], symbol[-3:]


def _decimals(text: str) -> int:
    digits = text.rstrip("0").partition(".")[2]
    return len(digits)


def _step(decimals: int) -> str:
    """``"0.00000100"`` for 6 decimals; ``"1.00000000"`` for 0."""
    return f"{10.0 ** -decimals:.8f}"


def _finest(values: list[str], sample: int = 5000) -> int:
    step = max(1, len(values) // sample)
    return min(8, max((_decimals(v) for v in values[::step]), default=0))


def symbol_info(tape: SymbolTape, status: str) -> dict[str, Any]:
    base, quote = split_symbol(tape.symbol)
    tick = _step(_finest([t.p for t in tape.trades]))
    lot = _step(_finest([t.q for t in tape.trades]))
    return {
        "symbol": tape.symbol, "status": status,
        "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True,
        "cancelReplaceAllowed": True, "amendAllowed": True, "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000.00000000",
             "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": lot, "maxQty": "92141578.00000000",
             "stepSize": lot},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000",
             "maxQty": "92141578.00000000", "stepSize": "0.00000000"},
            {"filterType": "NOTIONAL", "minNotional": MIN_NOTIONAL.get(quote, "5.00000000"),
             "applyMinToMarket": True, "maxNotional": "9000000.00000000",
             "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER",
                                            "EXPIRE_BOTH", "DECREMENT", "TRANSFER"],
    }


UNLISTED = "UNLISTED"   # the stand-in's own: absent from exchangeInfo, refused by REST (-1121)


@dataclass(frozen=True)
class StatusChange:
    """At ``at_s`` wall seconds after the market starts, ``symbol`` gets ``status``."""

    symbol: str
    status: str
    at_s: float = 0.0


class ExchangeInfo:
    """Symbol entries built once per symbol; statuses follow a schedule of changes (listings,
    delistings, BREAK) applied when read, on the stand-in's clock."""

    def __init__(self, market: Market, weight_limit: int,
                 status: dict[str, str] | None = None,
                 changes: list[StatusChange] | None = None, orders_10s: int = 100,
                 orders_day: int = 200_000) -> None:
        self.market = market
        self.weight_limit = weight_limit
        self.order_limits = (orders_10s, orders_day)
        self.status = {sym: "TRADING" for sym in market.symbols}
        for sym, value in (status or {}).items():
            self.set_status(sym, value)
        self._changes = sorted(changes or [], key=lambda c: c.at_s)
        for change in self._changes:
            self._check(change.symbol, change.status)
        self._entries = {sym: symbol_info(market.tapes[sym], "TRADING")
                         for sym in market.symbols}

    def entry(self, symbol: str) -> dict[str, Any]:
        """The symbol's exchangeInfo entry (its filters are what orders are checked against)."""
        return self._entries[symbol]

    def _check(self, symbol: str, status: str) -> None:
        if symbol not in self.status:
            raise ValueError(f"status for {symbol}: not a served symbol")
        if status not in STATUSES + (UNLISTED,):
            raise ValueError(f"status for {symbol}: {status!r} is not one of "
                             f"{', '.join(STATUSES + (UNLISTED,))}")

    def set_status(self, symbol: str, status: str) -> None:
        self._check(symbol, status)
        self.status[symbol] = status

    def _apply_due(self) -> None:
        elapsed = self.market.now() - self.market.t0
        while self._changes and self._changes[0].at_s <= elapsed:
            change = self._changes.pop(0)
            self.status[change.symbol] = change.status

    def listed(self, symbol: str) -> bool:
        self._apply_due()
        return self.status.get(symbol, UNLISTED) != UNLISTED

    def listed_symbols(self) -> list[str]:
        return [sym for sym in self.market.symbols if self.listed(sym)]

    def body(self, symbols: list[str] | None, symbol_status: str | None,
             now_ms: int) -> dict[str, Any]:
        self._apply_due()
        chosen = symbols if symbols is not None else self.listed_symbols()
        entries = []
        for sym in chosen:
            if symbol_status is not None and self.status[sym] != symbol_status:
                continue
            entries.append({**self._entries[sym], "status": self.status[sym]})
        return {"timezone": "UTC", "serverTime": now_ms,
                "rateLimits": rate_limits(self.weight_limit, *self.order_limits), "exchangeFilters": [],
                "symbols": entries}
