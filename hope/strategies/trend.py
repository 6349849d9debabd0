"""Trend: a fast EMA crossing above a slow EMA while the slow EMA itself rises fast enough.

Works on bars, read from bar files or built from trades (:class:`BarBuilder`). Long-only: a
bullish crossover with slow-EMA slope >= ``min_slope_pct`` per bar fires a signal, then the symbol
rests ``cooldown_bars`` bars. The first ``slow`` bars of a symbol only warm the EMAs up.
"""

from __future__ import annotations

from hope.market.bars import BarBuilder
from hope.market.config import TrendConfig
from hope.market.feeds import Bar, Trade
from hope.strategies.base import Signal, Strategy, signal_payload


class _EmaState:
    __slots__ = ("fast", "slow", "bars", "last_ts", "interval", "rest")

    def __init__(self, price: float, ts: float) -> None:
        self.fast = price
        self.slow = price
        self.bars = 1
        self.last_ts = ts
        self.interval = 0.0
        self.rest = 0     # bars left in the cooldown


class TrendStrategy(Strategy):
    """EMA crossover with minimum slope, per symbol, on bars."""

    name = "trend"

    def __init__(self, cfg: TrendConfig | None = None) -> None:
        self.cfg = cfg or TrendConfig()
        self._af = 2.0 / (self.cfg.fast + 1)
        self._as = 2.0 / (self.cfg.slow + 1)
        self._states: dict[str, _EmaState] = {}
        self._builder = BarBuilder(self.cfg.bar_s)
        self._quiet_until: dict[str, float] = {}  # restored cooldowns, market time

    def restore(self, signal: Signal) -> bool:
        """The bar cooldown from a signal before a restart, in market seconds."""
        until = float(signal["market_ts"]) + self.cfg.cooldown_bars * self.cfg.bar_s
        symbol = signal["symbol"]
        self._quiet_until[symbol] = max(self._quiet_until.get(symbol, until), until)
        return True

    def on_trade(self, trade: Trade) -> list[Signal]:
        """Build bars from trades; a closed bar goes through :meth:`on_bar`."""
        out: list[Signal] = []
        for bar in self._builder.on_trade(trade):
            out.extend(self.on_bar(bar))
        return out

    def on_bar(self, bar: Bar) -> list[Signal]:
        ts, symbol, close = bar[0], bar[1], bar[5]
        st = self._states.get(symbol)
        if st is None:
            self._states[symbol] = _EmaState(close, ts)
            return []
        st.interval = ts - st.last_ts
        st.last_ts = ts
        was_above = st.fast > st.slow
        prev_slow = st.slow
        st.fast += self._af * (close - st.fast)
        st.slow += self._as * (close - st.slow)
        st.bars += 1
        if st.rest > 0:
            st.rest -= 1
        if st.bars <= self.cfg.slow or was_above or st.fast <= st.slow or st.rest > 0:
            return []
        slope_pct = (st.slow / prev_slow - 1.0) * 100.0
        if slope_pct < self.cfg.min_slope_pct:
            return []
        if ts < self._quiet_until.get(symbol, float("-inf")):
            return []
        st.rest = self.cfg.cooldown_bars
        interval = st.interval or self.cfg.bar_s
        return [signal_payload(
            self.name, symbol, close, ts + interval, buys_per_sec=0.0,
            delta_pct=(st.fast / st.slow - 1.0) * 100.0, window_s=self.cfg.slow * interval,
            slope_pct=slope_pct, ema_fast=st.fast, ema_slow=st.slow, bar_ts=ts)]
