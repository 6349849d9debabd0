"""Symbols as in the data, without the slash (``EVXBTC``): which currency prices them."""

from __future__ import annotations

KNOWN_QUOTES = ("USDT", "BUSD", "USDC", "BTC", "ETH", "BNB")


def quote_of(symbol: str) -> str | None:
    """The quote currency of a slash-less symbol (``EVXBTC`` -> ``BTC``), None when unknown."""
    for quote in KNOWN_QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return quote
    return None
