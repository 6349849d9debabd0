"""Pump detector: a crowd of taker buy orders lifting the price far above its trailing level.

Per symbol, over a sliding window of ``window_s`` market seconds:

- **orders**: trades of one taker order share a millisecond and a side, so consecutive trades with
  the same ``ts`` and side are merged into one order. A whale sweeping ten price levels is one
  order; the opening of a pump is many orders from many people within a fraction of a second;
- **taker-buy share**: taker-buy quote volume / all quote volume in the window (by volume, not
  order count: sellers hitting a pump with many tiny orders do not hide the crowd's buying);
- **price change**: the last price against the trailing reference, the last price before the
  window (so the whole burst counts, however fast);
- **volume ratio**: quote volume in the window against the trailing baseline volume per window
  over ``baseline_s`` before it.

A signal fires when all four pass. Cooldown, on the market clock: a signal is first *pending*;
it arms the long ``cooldown_s`` only if the burst is confirmed within ``confirm_s`` (at least
``min_buy_orders * confirm_factor`` buy orders in a window with the price still above the
signal's threshold). Pre-announcement buying that fizzles out therefore releases the cooldown
after ``confirm_s`` and the pump itself still gets its signal; a real pump gets exactly one.
"""

from __future__ import annotations

from collections import deque

from hope.market.config import PumpConfig
from hope.market.feeds import Trade
from hope.strategies.base import Signal, Strategy, signal_payload

_RATIO_CAP = 1e9  # volume ratio when the baseline is empty: large, but finite for the wire


class _SymbolState:
    __slots__ = ("win", "base", "n_buy", "n_trades", "n_buy_trades", "quote", "base_quote",
                 "buy_quote", "ref", "pending_ts", "pending_price", "cooldown_until", "last_ts")

    def __init__(self) -> None:
        # window orders: [ts, taker_buy, quote, last_price, n_trades]
        self.win: deque[list] = deque()
        self.base: deque[tuple[float, float]] = deque()   # (ts, quote) of orders behind window
        self.n_buy = 0            # buy orders in window
        self.n_trades = 0         # trades in window
        self.n_buy_trades = 0     # taker-buy trades in window
        self.quote = 0.0          # quote volume in window
        self.buy_quote = 0.0      # taker-buy quote volume in window
        self.base_quote = 0.0     # quote volume in baseline
        self.ref: float | None = None     # last price before the window
        self.pending_ts: float | None = None
        self.pending_price = 0.0  # price the burst must stay above to confirm
        self.cooldown_until = float("-inf")
        self.last_ts = float("-inf")


class PumpStrategy(Strategy):
    """Sliding-window pump detector; one signal per pump, deterministic on market time."""

    name = "pump"

    def __init__(self, cfg: PumpConfig | None = None) -> None:
        self.cfg = cfg or PumpConfig()
        self._states: dict[str, _SymbolState] = {}
        self.signals = 0
        self.confirmed = 0
        self.released = 0   # pending signals whose burst fizzled (did not arm the cooldown)

    def restore(self, signal: Signal) -> bool:
        """The long cooldown from a signal before a restart (as if confirmed: fail-closed)."""
        st = self._states.get(signal["symbol"])
        if st is None:
            st = self._states[signal["symbol"]] = _SymbolState()
        st.cooldown_until = max(st.cooldown_until, float(signal["market_ts"]) + self.cfg.cooldown_s)
        return True

    def on_trade(self, trade: Trade) -> list[Signal]:
        ts, symbol, price, qty, buy = trade
        st = self._states.get(symbol)
        if st is None:
            st = self._states[symbol] = _SymbolState()
        cfg = self.cfg
        win = st.win
        quote = price * qty
        # Slide the window (orders at or before ts - window_s leave it) and the baseline.
        edge = ts - cfg.window_s
        while win and win[0][0] <= edge:
            o = win.popleft()
            st.n_buy -= o[1]
            st.n_trades -= o[4]
            if o[1]:
                st.n_buy_trades -= o[4]
                st.buy_quote -= o[2]
            st.quote -= o[2]
            st.ref = o[3]
            st.base.append((o[0], o[2]))
            st.base_quote += o[2]
        base = st.base
        edge -= cfg.baseline_s
        while base and base[0][0] <= edge:
            st.base_quote -= base.popleft()[1]
        # Merge into the current taker order or open a new one.
        last = win[-1] if win else None
        if last is not None and last[0] == ts and last[1] == buy:
            last[2] += quote
            last[3] = price
            last[4] += 1
        else:
            win.append([ts, buy, quote, price, 1])
            st.n_buy += buy
        st.n_trades += 1
        if buy:
            st.n_buy_trades += 1
            st.buy_quote += quote
        st.quote += quote
        st.last_ts = ts

        if st.pending_ts is not None:
            self._settle_pending(st, ts, price)
            return []
        if st.n_buy < cfg.min_buy_orders or ts < st.cooldown_until or st.ref is None:
            return []  # most trades end here, before any further call
        return self._detect(st, symbol, price, ts)

    def _settle_pending(self, st: _SymbolState, ts: float, price: float) -> None:
        """A pending signal's burst either confirms (arms the cooldown) or fizzles out."""
        cfg = self.cfg
        if (st.n_buy >= cfg.min_buy_orders * cfg.confirm_factor
                and price >= st.pending_price):
            st.cooldown_until = st.pending_ts + cfg.cooldown_s
            st.pending_ts = None
            self.confirmed += 1
        elif ts > st.pending_ts + cfg.confirm_s:
            st.pending_ts = None
            self.released += 1

    def _detect(self, st: _SymbolState, symbol: str, price: float, ts: float) -> list[Signal]:
        """Price rise, buy share and volume ratio over the window: a signal when all pass."""
        cfg = self.cfg
        win = st.win
        ref = st.ref
        delta_pct = (price / ref - 1.0) * 100.0
        if delta_pct < cfg.min_delta_pct:
            return []
        n_orders = len(win)
        share = st.buy_quote / st.quote if st.quote > 0 else 0.0
        if share < cfg.min_buy_share:
            return []
        per_window = st.base_quote * cfg.window_s / cfg.baseline_s
        ratio = st.quote / per_window if per_window > 0 else _RATIO_CAP
        ratio = min(ratio, _RATIO_CAP)
        if ratio < cfg.min_volume_ratio:
            return []
        st.pending_ts = ts
        st.pending_price = ref * (1.0 + cfg.min_delta_pct / 100.0)
        self.signals += 1
        return [signal_payload(
            self.name, symbol, price, ts,
            buys_per_sec=st.n_buy_trades / cfg.window_s, delta_pct=delta_pct,
            window_s=cfg.window_s, buy_orders=st.n_buy, orders=n_orders,
            trades_in_window=st.n_trades, taker_buy_share=share, volume_ratio=ratio,
            ref_price=ref, quote_volume=st.quote)]
