"""The Risk committee: may we take it? Limits, freshness on both clocks, breaker, audit, state.

Every rule judges a SIGNAL against the :class:`hope.decision.risk_state.RiskState` in its
context; a rule that cannot tell (market clock unknown, no PRICE yet) says no.
"""

from __future__ import annotations

from hope.decision.alpha import Committee, Rule, RuleContext
from hope.decision.risk_state import RATE_WINDOW_S, market_day
from hope.envelope import parse_timestamp
from hope.trading.state import ACTIVE

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


def _signal_ahead(ctx: RuleContext) -> tuple[bool, str]:
    """A market_ts ahead of the market clock is a forged or broken clock, not a fresh signal."""
    if ctx.market_now is None:
        return False, "market clock unknown"
    ahead = float(ctx.payload["market_ts"]) - ctx.market_now
    ok = ahead <= ctx.cfg.max_signal_ahead_s
    return ok, (("" if ok else "refused: ") + f"market_ts {ahead:+.3f}s from the market clock "
                f"(max {ctx.cfg.max_signal_ahead_s:g}s ahead)")


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
    # half_open: the executor's breaker admits exactly one trial order and refuses the rest;
    # skipping there too would keep it from ever closing again.
    bad = {k: v for k, v in ctx.state.breakers.items() if v not in ("closed", "half_open")}
    if not bad:
        return True, "all breakers closed"
    why = {k: ctx.state.breaker_reasons[k] for k in bad if k in ctx.state.breaker_reasons}
    return False, f"breakers not closed: {bad}" + (f" ({why})" if why else "")


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
            Rule("signal_ahead", _signal_ahead),
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
