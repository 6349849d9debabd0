"""The one interface every strategy implements, and the SIGNAL payload they all produce.

A strategy is a plain object fed market data in market-time order; it returns a list of SIGNAL
payloads (CONVENTIONS: ``symbol, strategy, price, market_ts, buys_per_sec, delta_pct, window_s``
plus strategy detail). Strategies keep all time on the market clock (the data's ``ts``), never the
wall clock, so the same data and config always give the same signals at any replay speed.
"""

from __future__ import annotations

import math
from typing import Any

from hope.market.feeds import Bar, Trade

Signal = dict[str, Any]


class Strategy:
    """Base strategy: ignores everything. Subclasses override what they consume."""

    name = "base"

    def on_trade(self, trade: Trade) -> list[Signal]:
        """Consume one trade; return the signals it triggers (usually none)."""
        return []

    def on_bar(self, bar: Bar) -> list[Signal]:
        """Consume one closed bar; return the signals it triggers."""
        return []

    def restore(self, signal: Signal) -> bool:
        """Resume after a restart: ``signal`` is this strategy's last published SIGNAL for its
        symbol (from the audit log); start its cooldown as if it had just fired. Returns
        whether anything was restored."""
        return False


def signal_payload(strategy: str, symbol: str, price: float, market_ts: float,
                   buys_per_sec: float, delta_pct: float, window_s: float,
                   **detail: Any) -> Signal:
    """A SIGNAL payload with the CONVENTIONS fields first; numbers rounded, never NaN or inf."""
    payload: Signal = {
        "symbol": symbol, "strategy": strategy, "price": float(price),
        "market_ts": round(float(market_ts), 6), "buys_per_sec": round(float(buys_per_sec), 4),
        "delta_pct": round(float(delta_pct), 4), "window_s": float(window_s),
    }
    for key, value in detail.items():
        if isinstance(value, float):
            value = round(value, 6) if math.isfinite(value) else None
        payload[key] = value
    return payload
