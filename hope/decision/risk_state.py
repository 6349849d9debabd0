"""The risk state the Risk committee judges against: open positions, P&L, prices, breakers, audit lag.

``RiskState`` is rebuilt from the audit log before the first BUY (``rebuild``) and then kept
current from the bus: PRICE, ORDER (refusals free their slot), CLOSE, BREAKER, WATERMARK and
CONTROL. Positions count from the moment of the BUY decision, not the fill
(:func:`hope.trading.book.apply_buy`), so two quick signals cannot both squeeze under a limit
while the first order is in flight.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hope.trading.book import apply_buy
from hope.trading.state import HALTED

DAY_S = 86400.0
RATE_WINDOW_S = 60.0


def market_day(market_ts: float) -> int:
    """The UTC day number on the market clock: daily loss resets at market midnight."""
    return int(market_ts // DAY_S)


@dataclass
class OpenPosition:
    symbol: str
    quote: str
    size: float        # quote currency


@dataclass
class RiskState:
    trading: str = HALTED                       # unknown until told: HALTED
    ready: bool = False                         # risk state rebuilt from the audit log?
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)  # symbol: (price, ts)
    breakers: dict[str, str] = field(default_factory=dict)   # "service/name": state
    breaker_reasons: dict[str, str] = field(default_factory=dict)  # why one is not closed
    positions: dict[str, OpenPosition] = field(default_factory=dict)   # order_id: position
    by_symbol: dict[str, set[str]] = field(default_factory=dict)  # symbol: its open order ids
    daily_pnl: dict[tuple[int, str], float] = field(default_factory=dict)
    last_buy: dict[str, float] = field(default_factory=dict)  # symbol: signal market_ts
    buy_times: deque[float] = field(default_factory=deque)
    watermark_wall: float | None = None         # wall time the last WATERMARK arrived
    # our own published (epoch, seq, wall time) the audit writer has not made durable yet
    unacked: deque[tuple[str, int, float]] = field(default_factory=deque)

    # --- updates from the bus ----------------------------------------------------------------
    def on_price(self, symbol: str, price: float, market_ts: float) -> None:
        self.prices[symbol] = (float(price), float(market_ts))

    def on_breaker(self, payload: dict[str, Any]) -> None:
        key = f"{payload.get('service', '?')}/{payload.get('name', '?')}"
        self.breakers[key] = str(payload.get("state", "unknown"))
        reason = payload.get("reason")
        if isinstance(reason, str) and reason:
            self.breaker_reasons[key] = reason[:300]
        else:
            self.breaker_reasons.pop(key, None)

    def note_published(self, epoch: str | None, seq: int, now_wall: float) -> None:
        """Remember one of our events until a WATERMARK says the audit log holds it."""
        if epoch and seq > 0:
            self.unacked.append((epoch, seq, now_wall))

    def on_watermark(self, payload: dict[str, Any], now_wall: float, publisher: str) -> None:
        """WATERMARK payload ``{"watermarks": {publisher: {epoch: durable seq}}}``."""
        self.watermark_wall = now_wall
        marks = (payload.get("watermarks") or {}).get(publisher) or {}
        keep = deque(e for e in self.unacked
                     if not (isinstance(marks.get(e[0]), int) and e[1] <= marks[e[0]]))
        self.unacked = keep

    def audit_lag(self, now_wall: float) -> float | None:
        """Seconds the audit is behind us: since the last watermark, or since our oldest
        event it has not made durable, whichever is worse. None when no watermark was heard."""
        if self.watermark_wall is None:
            return None
        lag = now_wall - self.watermark_wall
        if self.unacked:
            lag = max(lag, now_wall - self.unacked[0][2])
        return lag

    def record_buy(self, order_id: str, symbol: str, quote: str, size: float,
                   market_ts: float) -> None:
        self.positions[order_id] = OpenPosition(symbol, quote, size)
        self.by_symbol.setdefault(symbol, set()).add(order_id)
        self.last_buy[symbol] = max(market_ts, self.last_buy.get(symbol, market_ts))
        self.buy_times.append(market_ts)
        while self.buy_times and self.buy_times[0] < market_ts - RATE_WINDOW_S:
            self.buy_times.popleft()

    def on_order(self, payload: dict[str, Any]) -> None:
        """A refused order (REJECTED / EXPIRED) never opened a position: free its slot."""
        if payload.get("status") in ("REJECTED", "EXPIRED"):
            self._drop(str(payload.get("order_id")))

    def _drop(self, order_id: str) -> None:
        pos = self.positions.pop(order_id, None)
        if pos is not None:
            self.by_symbol.get(pos.symbol, set()).discard(order_id)

    def symbol_positions(self, symbol: str) -> list[tuple[str, OpenPosition]]:
        return [(oid, self.positions[oid]) for oid in self.by_symbol.get(symbol, ())
                if oid in self.positions]

    def buys_since(self, since: float) -> int:
        """BUYs with market time after ``since`` (the deque is trimmed as we go)."""
        while self.buy_times and self.buy_times[0] <= since:
            self.buy_times.popleft()
        return len(self.buy_times)

    def on_close(self, payload: dict[str, Any], market_now: float | None) -> None:
        self._drop(str(payload.get("order_id")))
        ts = payload.get("market_ts", market_now)
        pnl = payload.get("pnl")
        if isinstance(ts, int | float) and isinstance(pnl, int | float):
            key = (market_day(ts), str(payload.get("quote", "?")))
            self.daily_pnl[key] = self.daily_pnl.get(key, 0.0) + float(pnl)

    def rebuild(self, decisions: Iterable[dict[str, Any]], orders: Iterable[dict[str, Any]],
                closes: Iterable[dict[str, Any]]) -> set[str]:
        """Replay audited DECISION/ORDER/CLOSE records; returns the ids of signals decided."""
        decided: set[str] = set()
        for rec in decisions:
            if rec.get("causation_id"):
                decided.add(rec["causation_id"])
            apply_buy(self, rec["event_id"], rec.get("payload") or {})
        for rec in orders:
            self.on_order(rec.get("payload") or {})
        for rec in closes:
            self.on_close(rec.get("payload") or {}, None)
        self.ready = True
        return decided
