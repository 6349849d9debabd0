"""The Risk committee (may we take it?) and the risk state it judges against.

``RiskState`` is rebuilt from the audit log before the first BUY (``rebuild``) and then kept
current from the bus: PRICE, FILL, ORDER (refusals free their slot), CLOSE, BREAKER, WATERMARK,
CONTROL. Positions count from the moment of the BUY decision, not the fill, so two quick signals
cannot both squeeze under a limit while the first order is in flight.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hope.decision.alpha import Committee, Rule, RuleContext
from hope.decision.trading_state import ACTIVE, HALTED
from hope.envelope import parse_timestamp

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
        from hope.execution.exchange import client_order_id  # the executor owns the id scheme
        for rec in decisions:
            p = rec.get("payload") or {}
            if rec.get("causation_id"):
                decided.add(rec["causation_id"])
            if p.get("action") == "BUY" and isinstance(p.get("market_ts"), int | float):
                self.record_buy(client_order_id(rec["event_id"]), p.get("symbol", "?"),
                                p.get("quote", "?"), float(p.get("position_size", 0.0)),
                                p["market_ts"])
        for rec in orders:
            self.on_order(rec.get("payload") or {})
        for rec in closes:
            self.on_close(rec.get("payload") or {}, None)
        self.ready = True
        return decided


# --- rules -----------------------------------------------------------------------------------

def _trading_state(ctx: RuleContext) -> tuple[bool, str]:
    return ctx.state.trading == ACTIVE, f"trading state {ctx.state.trading}"


def _state_rebuilt(ctx: RuleContext) -> tuple[bool, str]:
    ok = ctx.state.ready
    return ok, "risk state rebuilt" if ok else "risk state not rebuilt from the audit log yet"


def _market_data(ctx: RuleContext) -> tuple[bool, str]:
    if ctx.market_now is None:
        return False, "market clock unknown"
    last = ctx.state.prices.get(ctx.symbol)
    if last is None:
        return False, f"no PRICE yet for {ctx.symbol}"
    age = ctx.market_now - last[1]
    return age <= ctx.cfg.max_price_age_s, \
        f"last PRICE {age:.1f}s old (max {ctx.cfg.max_price_age_s:g}s)"


def _signal_age(ctx: RuleContext) -> tuple[bool, str]:
    if ctx.market_now is None:
        return False, "market clock unknown"
    age = ctx.market_now - float(ctx.payload["market_ts"])
    ok = age <= ctx.cfg.max_signal_age_s
    return ok, (("" if ok else "stale: ") +
                f"signal {age:.3f}s old on the market clock (max {ctx.cfg.max_signal_age_s:g}s)")


def _market_skew(ctx: RuleContext) -> tuple[bool, str]:
    # A live feed's market time is the venue's clock: far from the wall clock means stale
    # (or forward-dated) data however the market clock looks. Replays run on old market time.
    feed = ctx.payload.get("feed")
    if not feed:
        return True, "not from a live feed"
    skew = ctx.now_wall - float(ctx.payload["market_ts"])
    ok = abs(skew) <= ctx.cfg.max_market_skew_s
    return ok, (f"{feed} market_ts {skew:.3f}s behind the wall clock "
                f"(max {ctx.cfg.max_market_skew_s:g}s)")


def _transit(ctx: RuleContext) -> tuple[bool, str]:
    age = ctx.now_wall - parse_timestamp(ctx.env.timestamp).timestamp()
    return age <= ctx.cfg.max_transit_s, \
        f"{age:.3f}s in transit on the wall clock (max {ctx.cfg.max_transit_s:g}s)"


def _breaker(ctx: RuleContext) -> tuple[bool, str]:
    if not ctx.state.breakers:
        ok = not ctx.cfg.breaker_unknown_blocks
        return ok, "no breaker state heard yet"
    bad = {k: v for k, v in ctx.state.breakers.items() if v != "closed"}
    return not bad, f"breakers not closed: {bad}" if bad else "all breakers closed"


def _audit_watermark(ctx: RuleContext) -> tuple[bool, str]:
    if not ctx.cfg.require_audit:
        return True, "audit not required"
    lag = ctx.state.audit_lag(ctx.now_wall)
    if lag is None:
        return False, "no audit watermark heard yet (no audit, no trade)"
    return lag <= ctx.cfg.audit_max_lag_s, \
        f"audit watermark lag {lag:.1f}s (max {ctx.cfg.audit_max_lag_s:g}s)"


def _quote_known(ctx: RuleContext) -> tuple[bool, str]:
    ok = ctx.quote is not None and ctx.quote in ctx.cfg.position_size
    return ok, f"quote {ctx.quote}" + ("" if ok else " has no configured position_size")


def _max_open(ctx: RuleContext) -> tuple[bool, str]:
    n = len(ctx.state.positions)
    return n < ctx.cfg.max_open_positions, \
        f"{n} open positions (max {ctx.cfg.max_open_positions})"


def _duplicate(ctx: RuleContext) -> tuple[bool, str]:
    dup = [oid for oid, _ in ctx.state.symbol_positions(ctx.symbol)]
    return not dup, f"already holding {ctx.symbol}: {dup[0]}" if dup else "no open position"


def _exposure(ctx: RuleContext) -> tuple[bool, str]:
    quote = ctx.quote or "?"
    size = ctx.cfg.position_size[quote]
    held = sum(p.size for _, p in ctx.state.symbol_positions(ctx.symbol))
    limit = ctx.cfg.max_symbol_exposure[quote]
    return held + size <= limit * (1 + 1e-9), \
        f"{ctx.symbol} exposure {held:g}+{size:g} {quote} (max {limit:g})"


def _daily_loss(ctx: RuleContext) -> tuple[bool, str]:
    if ctx.market_now is None:
        return False, "market clock unknown"
    quote = ctx.quote or "?"
    pnl = ctx.state.daily_pnl.get((market_day(ctx.market_now), quote), 0.0)
    limit = ctx.cfg.daily_loss_limit[quote]
    return -pnl < limit, f"today's realized P&L {pnl:g} {quote} (loss limit {limit:g})"


def _order_rate(ctx: RuleContext) -> tuple[bool, str]:
    if ctx.market_now is None:
        return False, "market clock unknown"
    n = ctx.state.buys_since(ctx.market_now - RATE_WINDOW_S)
    return n < ctx.cfg.max_buys_per_min, \
        f"{n} BUYs in the last minute (max {ctx.cfg.max_buys_per_min})"


class RiskCommittee(Committee):
    """May we take it? Limits, freshness on both clocks, breaker, audit, trading state."""

    def __init__(self) -> None:
        super().__init__("risk", [
            Rule("trading_state", _trading_state),
            Rule("state_rebuilt", _state_rebuilt),
            Rule("market_data", _market_data),
            Rule("signal_age", _signal_age),
            Rule("transit_age", _transit),
            Rule("market_wall_skew", _market_skew),
            Rule("circuit_breaker", _breaker),
            Rule("audit_watermark", _audit_watermark),
            Rule("quote_known", _quote_known),
            Rule("max_open_positions", _max_open),
            Rule("duplicate_position", _duplicate),
            Rule("symbol_exposure", _exposure),
            Rule("daily_loss_limit", _daily_loss),
            Rule("order_rate", _order_rate),
        ])
