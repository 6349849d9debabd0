"""Bars built from trades: fixed buckets of market time, emitted when the next bucket starts.

Empty buckets produce no bar (illiquid coins go quiet for an hour): a bar stands for trading that
happened, and EMA periods then count bars, not wall minutes.
"""

from __future__ import annotations

from hope.market.feeds import Bar, Trade


class BarBuilder:
    """Aggregates trades of any number of symbols into ``bar_s``-second OHLCV bars (base volume)."""

    def __init__(self, bar_s: float = 60.0) -> None:
        if bar_s <= 0:
            raise ValueError("bar_s: must be > 0")
        self.bar_s = bar_s
        self._open: dict[str, list] = {}   # symbol -> [bucket_ts, o, h, l, c, v]

    def on_trade(self, trade: Trade) -> list[Bar]:
        """Add a trade; return the bar it closed (the previous bucket of its symbol), if any."""
        ts, symbol, price, qty, _ = trade
        bucket = ts - ts % self.bar_s
        cur = self._open.get(symbol)
        if cur is not None and cur[0] == bucket:
            if price > cur[2]:
                cur[2] = price
            elif price < cur[3]:
                cur[3] = price
            cur[4] = price
            cur[5] += qty
            return []
        self._open[symbol] = [bucket, price, price, price, price, qty]
        if cur is None:
            return []
        return [Bar(cur[0], symbol, cur[1], cur[2], cur[3], cur[4], cur[5])]

    def flush(self) -> list[Bar]:
        """Close every open bar (end of data)."""
        bars = [Bar(c[0], s, c[1], c[2], c[3], c[4], c[5]) for s, c in self._open.items()]
        self._open.clear()
        return bars
