"""Decision engine "Eye of God": every rule of both committees, each fail-closed path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hope.decision.alpha import Committee, Rule
from hope.decision.config import DecisionConfig
from hope.decision.engine import DecisionEngine
from hope.decision.risk_state import RiskState, market_day
from hope.envelope import new_event, utc_timestamp, validate_payload
from hope.trading.ids import client_order_id

T0 = 1_610_226_000.0        # market clock (2021-01-09 21:00 UTC)
WALL = 1_700_000_000.0      # wall clock
ME = "decision-engine"


def sig(symbol: str = "EVXBTC", strategy: str = "pump", market_ts: float = T0,
        bps: float | None = 5.0, delta: float | None = 10.0, wall: float = WALL, **extra):
    payload = {"symbol": symbol, "strategy": strategy, "price": 1e-5, "market_ts": market_ts,
               "window_s": 2.0, **extra}
    if bps is not None:
        payload["buys_per_sec"] = bps
    if delta is not None:
        payload["delta_pct"] = delta
    ts = utc_timestamp(datetime.fromtimestamp(wall, UTC))
    return new_event("SIGNAL", payload, source="scanner", timestamp=ts)


def engine(**over) -> DecisionEngine:
    state = RiskState(trading="ACTIVE", ready=True)
    state.on_price("EVXBTC", 1e-5, T0)
    state.on_price("GVTBTC", 2e-5, T0)
    state.on_watermark({}, WALL, ME)
    return DecisionEngine(DecisionConfig(**over), "cfg:test", state)


def failed(decision) -> set[str]:
    assert decision["action"] == "SKIP"
    return {r["rule"] for r in decision["reasons"]}


def test_good_signal_gets_buy_with_size_targets_and_hash():
    """A signal that passes every rule is a BUY with size, targets, config hash and reasons."""
    d = engine().decide(sig(), WALL + 0.1, T0)
    assert d["action"] == "BUY"
    assert d["position_size"] == 0.001 and d["quote"] == "BTC"
    assert d["config_hash"] == "cfg:test"
    assert d["targets"]["timeout_s"] == 900.0
    assert d["targets"]["take_profit"] == pytest.approx(1.05e-5)
    assert d["targets"]["stop_loss"] == pytest.approx(0.97e-5)
    assert 0.5 <= d["confidence"] <= 1.0
    assert {r["rule"] for r in d["reasons"]} >= {"trading_state", "audit_watermark", "cooldown"}
    validate_payload("DECISION", d)


def test_decide_is_deterministic():
    """The same signal, clocks and state give the same DECISION payload."""
    e, s = engine(), sig()
    assert e.decide(s, WALL + 1, T0) == e.decide(s, WALL + 1, T0)


def test_skip_names_every_failed_rule():
    """A SKIP lists all failing rules, not just the first."""
    e = engine(blacklist=["EVXBTC"])
    e.state.trading = "HALTED"
    d = e.decide(sig(bps=0.1, delta=5.0), WALL, T0)
    assert failed(d) == {"blacklist", "min_buys_per_sec", "min_confidence", "trading_state"}
    assert d["position_size"] == 0.0
    validate_payload("DECISION", d)


# --- alpha -------------------------------------------------------------------------------

def test_unknown_strategy_skips():
    """A strategy not in strategies_allowed is skipped."""
    assert "strategy_allowed" in failed(engine().decide(sig(strategy="magic"), WALL, T0))


def test_blacklisted_symbol_skips():
    """A blacklisted symbol is skipped."""
    assert failed(engine(blacklist=["EVXBTC"]).decide(sig(), WALL, T0)) == {"blacklist"}


def test_low_buys_per_sec_skips():
    """A pump signal below min_buys_per_sec is skipped."""
    assert "min_buys_per_sec" in failed(engine(min_buys_per_sec=6).decide(sig(bps=5), WALL, T0))


def test_low_delta_skips():
    """A pump signal below min_delta_pct is skipped."""
    assert "min_delta_pct" in failed(engine(min_delta_pct=20).decide(sig(), WALL, T0))


def test_pump_signal_without_flow_fields_skips():
    """A flow strategy signal missing buys_per_sec/delta_pct fails closed."""
    d = engine().decide(sig(bps=None, delta=None), WALL, T0)
    assert {"min_buys_per_sec", "min_delta_pct", "min_confidence"} <= failed(d)


def test_trend_signal_uses_configured_confidence():
    """A non-flow strategy without own confidence uses strategy_confidence; absent → SKIP."""
    assert engine().decide(sig(strategy="trend", bps=0.0), WALL, T0)["action"] == "BUY"
    d = engine(strategy_confidence={}).decide(sig(strategy="trend", bps=0.0), WALL, T0)
    assert failed(d) == {"min_confidence"}


def test_cooldown_per_symbol_on_market_clock():
    """After a BUY on a symbol, another within cooldown_s of market time is skipped."""
    e = engine(cooldown_s=600, max_open_positions=5)
    e.state.last_buy["EVXBTC"] = T0 - 100
    e.state.on_price("EVXBTC", 1e-5, T0)
    assert failed(e.decide(sig(), WALL, T0)) == {"cooldown"}
    e.state.on_price("EVXBTC", 1e-5, T0 + 600)
    assert e.decide(sig(market_ts=T0 + 600), WALL, T0 + 600)["action"] == "BUY"


# --- risk: fail-closed paths ---------------------------------------------------------------

@pytest.mark.parametrize("state", ["HALTED", "REDUCING", "UNKNOWN"])
def test_trading_state_not_active_skips(state):
    """HALTED, REDUCING or any unknown trading state gives SKIP."""
    e = engine()
    e.state.trading = state
    assert failed(e.decide(sig(), WALL, T0)) == {"trading_state"}


def test_default_risk_state_is_halted_and_not_rebuilt():
    """A fresh RiskState is HALTED and not rebuilt: nothing buys before it is told otherwise."""
    e = DecisionEngine(DecisionConfig(), "cfg:x")
    assert {"trading_state", "state_rebuilt"} <= failed(e.decide(sig(), WALL, T0))


def test_market_clock_unknown_skips():
    """No market clock yet: market data, signal age, daily loss and rate rules fail closed."""
    d = engine().decide(sig(), WALL, None)
    assert {"market_data", "signal_age", "daily_loss_limit", "order_rate"} <= failed(d)


def test_no_price_for_symbol_skips():
    """No PRICE seen yet for the signal's symbol gives SKIP market_data."""
    d = engine().decide(sig(symbol="NASBTC"), WALL, T0)
    assert failed(d) == {"market_data"}
    assert "no PRICE yet for NASBTC" in d["reasons"][0]["detail"]


def test_stale_price_skips():
    """A PRICE older than max_price_age_s on the market clock gives SKIP market_data."""
    e = engine(max_price_age_s=60)
    assert "market_data" in failed(e.decide(sig(market_ts=T0 + 61), WALL, T0 + 61))


def test_stale_signal_on_market_clock_skips():
    """A signal older than max_signal_age_s behind the market clock is stale."""
    e = engine(max_signal_age_s=10)
    e.state.on_price("EVXBTC", 1e-5, T0 + 11)
    d = e.decide(sig(market_ts=T0), WALL, T0 + 11)
    assert failed(d) == {"signal_age"}
    assert d["reasons"][0]["detail"].startswith("stale")
    assert engine(max_signal_age_s=10).decide(sig(market_ts=T0), WALL, T0 + 10)["action"] == "BUY"


def test_backlog_in_transit_on_wall_clock_skips():
    """An envelope older than max_transit_s on the wall clock is skipped (backlog)."""
    d = engine(max_transit_s=30).decide(sig(wall=WALL), WALL + 31, T0)
    assert failed(d) == {"transit_age", "audit_watermark"}  # the watermark is 31 s old too
    e = engine(max_transit_s=30, audit_max_lag_s=100)
    assert failed(e.decide(sig(wall=WALL), WALL + 31, T0)) == {"transit_age"}


def test_open_breaker_skips():
    """An open executor breaker (BREAKER event) gives SKIP; half-open lets a BUY go to its one
    trial (the executor refuses any other); closed again → BUY."""
    e = engine()
    e.state.on_breaker({"service": "executor", "name": "exchange", "state": "open"})
    assert failed(e.decide(sig(), WALL, T0)) == {"circuit_breaker"}
    e.state.on_breaker({"service": "executor", "name": "exchange", "state": "half_open"})
    assert e.decide(sig(), WALL, T0)["action"] == "BUY"
    e.state.on_breaker({"service": "executor", "name": "exchange", "state": "closed"})
    assert e.decide(sig(), WALL, T0)["action"] == "BUY"


def test_unknown_breaker_blocks_when_configured():
    """With breaker_unknown_blocks, no BREAKER heard yet gives SKIP."""
    assert failed(engine(breaker_unknown_blocks=True).decide(sig(), WALL, T0)) == {
        "circuit_breaker"}


def test_no_watermark_means_no_trade():
    """No audit watermark heard yet gives SKIP audit_watermark (no audit, no trade)."""
    e = engine()
    e.state.watermark_wall = None
    assert failed(e.decide(sig(), WALL, T0)) == {"audit_watermark"}
    e.cfg.require_audit = False
    assert e.decide(sig(), WALL, T0)["action"] == "BUY"


def test_old_watermark_skips():
    """The last WATERMARK older than audit_max_lag_s gives SKIP."""
    e = engine(audit_max_lag_s=15, max_transit_s=100)
    assert failed(e.decide(sig(wall=WALL + 16), WALL + 16, T0)) == {"audit_watermark"}


def test_unacked_decision_makes_audit_lag():
    """Our own DECISION not made durable by the watermark for too long gives SKIP."""
    e = engine(audit_max_lag_s=15, max_transit_s=100)
    e.state.note_published("ep1", 7, WALL)
    e.state.on_watermark({"watermarks": {ME: {"ep1": 6}}}, WALL + 16, ME)
    assert failed(e.decide(sig(wall=WALL + 16), WALL + 16, T0)) == {"audit_watermark"}
    e.state.on_watermark({"watermarks": {ME: {"ep1": 7}}}, WALL + 16, ME)
    assert e.decide(sig(wall=WALL + 16), WALL + 16, T0)["action"] == "BUY"


def test_unknown_quote_skips():
    """A symbol whose quote has no configured position size is skipped."""
    e = engine()
    e.state.on_price("EVXBNB", 1.0, T0)
    assert failed(e.decide(sig(symbol="EVXBNB"), WALL, T0)) == {"quote_known", "symbol_exposure",
                                                                  "daily_loss_limit"}


def _buy(e: DecisionEngine, signal):
    d = e.decide(signal, WALL, signal.payload["market_ts"])
    env = new_event("DECISION", d, source=ME, parent=signal)
    e.commit(env)
    return env


def test_max_open_positions():
    """At max_open_positions open, the next signal is skipped."""
    e = engine(max_open_positions=1)
    assert _buy(e, sig()).payload["action"] == "BUY"
    assert failed(e.decide(sig(symbol="GVTBTC"), WALL, T0)) == {"max_open_positions"}


def test_duplicate_position_and_exposure():
    """A second BUY on a held symbol is skipped (duplicate position and per-symbol exposure)."""
    e = engine(cooldown_s=0, max_open_positions=5)
    _buy(e, sig())
    assert failed(e.decide(sig(market_ts=T0 + 1), WALL, T0 + 1)) == {"duplicate_position",
                                                                      "symbol_exposure"}


def test_refused_order_frees_the_slot():
    """An ORDER REJECTED/EXPIRED for a BUY frees its position slot."""
    e = engine(max_open_positions=1, cooldown_s=0)
    env = _buy(e, sig())
    e.state.on_order({"order_id": client_order_id(env.event_id), "status": "EXPIRED"})
    assert e.decide(sig(symbol="GVTBTC"), WALL, T0)["action"] == "BUY"


def test_unknown_order_keeps_the_slot_until_its_terminal_order():
    """ORDER UNKNOWN (live venue) counts as an open position; its REJECTED frees the slot."""
    e = engine(max_open_positions=1, cooldown_s=0)
    env = _buy(e, sig())
    e.state.on_order({"order_id": client_order_id(env.event_id), "status": "UNKNOWN"})
    assert "max_open_positions" in failed(e.decide(sig(symbol="GVTBTC"), WALL, T0))
    e.state.on_order({"order_id": client_order_id(env.event_id), "status": "REJECTED"})
    assert e.decide(sig(symbol="GVTBTC"), WALL, T0)["action"] == "BUY"


def test_reconciling_venue_breaker_skips_with_its_reason():
    """The executor's venue breaker reconciling or open SKIPs, naming the state and reason."""
    e = engine()
    e.state.on_breaker({"service": "executor", "name": "venue", "state": "open",
                        "reason": "balance EVX below positions"})
    d = e.decide(sig(), WALL, T0)
    assert failed(d) == {"circuit_breaker"}
    detail = next(r["detail"] for r in d["reasons"] if r["rule"] == "circuit_breaker")
    assert "executor/venue" in detail and "balance EVX below positions" in detail
    e.state.on_breaker({"service": "executor", "name": "venue", "state": "closed"})
    assert e.decide(sig(), WALL, T0)["action"] == "BUY"


def test_daily_loss_limit_on_market_day():
    """Realized losses past the limit block the quote for the rest of the market day only."""
    e = engine(daily_loss_limit={"BTC": 0.001}, max_open_positions=5)
    env = _buy(e, sig())
    e.state.on_close({"order_id": client_order_id(env.event_id), "pnl": -0.0011, "quote": "BTC",
                      "market_ts": T0 + 5}, T0 + 5)
    assert failed(e.decide(sig(symbol="GVTBTC"), WALL, T0 + 5)) == {"daily_loss_limit"}
    next_day = (market_day(T0) + 1) * 86400.0 + 1
    e.state.on_price("GVTBTC", 2e-5, next_day)
    assert e.decide(sig(symbol="GVTBTC", market_ts=next_day), WALL, next_day)["action"] == "BUY"


def test_order_rate_limit():
    """More than max_buys_per_min BUYs in a minute of market time are skipped."""
    e = engine(max_buys_per_min=2, max_open_positions=10)
    for i in range(2):
        e.state.record_buy(f"o{i}", f"X{i}BTC", "BTC", 0.001, T0 - 10 + i)
    assert failed(e.decide(sig(), WALL, T0)) == {"order_rate"}
    e.state.on_price("EVXBTC", 1e-5, T0 + 60)
    assert e.decide(sig(market_ts=T0 + 60), WALL, T0 + 60)["action"] == "BUY"


# --- exceptions ----------------------------------------------------------------------------

def test_exception_inside_rule_is_a_failed_rule():
    """A rule that raises fails (SKIP naming it), it never passes."""
    e = engine()

    def boom(ctx):
        raise KeyError("missing")

    e.risk = Committee("risk", e.risk.rules + [Rule("fragile", boom)])
    d = e.decide(sig(), WALL, T0)
    assert failed(d) == {"fragile"}
    assert "KeyError" in d["reasons"][0]["detail"]


def test_rule_returning_truthy_non_true_fails():
    """A rule must return exactly True to pass: a truthy non-bool is a failure."""
    e = engine()
    e.alpha = Committee("alpha", [Rule("sloppy", lambda ctx: ("yes", "d"))])
    assert failed(e.decide(sig(), WALL, T0)) == {"sloppy"}


def test_engine_error_gives_skip():
    """An exception outside the rules becomes SKIP engine_error, never an exception."""
    e = engine()
    e.alpha = None  # type: ignore[assignment]
    d = e.decide(sig(), WALL, T0)
    assert failed(d) == {"engine_error"}
    validate_payload("DECISION", d)


# --- rebuild and redelivery ------------------------------------------------------------------

def test_rebuild_from_audit_records():
    """Rebuild restores open positions, cooldowns, daily P&L and the decided signal ids."""
    s1, s2 = sig(), sig(symbol="GVTBTC")
    src = engine(max_open_positions=5)
    d1 = new_event("DECISION", src.decide(s1, WALL, T0), source=ME, parent=s1)
    d2 = new_event("DECISION", src.decide(s2, WALL, T0), source=ME, parent=s2)
    rec = lambda env: env.to_dict()  # noqa: E731
    state = RiskState(trading="ACTIVE")
    decided = state.rebuild(
        [rec(d1), rec(d2)],
        [{"payload": {"order_id": client_order_id(d2.event_id), "status": "REJECTED"}}],
        [{"payload": {"order_id": client_order_id(d1.event_id), "pnl": -0.5, "quote": "BTC",
                      "market_ts": T0 + 3}}])
    assert state.ready and decided == {s1.event_id, s2.event_id}
    assert state.positions == {}
    assert state.daily_pnl[(market_day(T0), "BTC")] == -0.5
    assert state.last_buy["EVXBTC"] == T0


def test_commit_remembers_signal():
    """After commit the engine knows the signal was decided (a redelivery gets no 2nd DECISION)."""
    e = engine()
    s = sig()
    assert not e.already_decided(s.event_id)
    _buy(e, s)
    assert e.already_decided(s.event_id)


def test_signal_stamped_ahead_of_the_market_clock_is_skipped():
    """A SIGNAL whose market_ts is past max_signal_ahead_s ahead (4e9: decades) is SKIPped
    naming signal_ahead; one just inside the window passes."""
    e = engine(max_signal_ahead_s=60)
    d = e.decide(sig(market_ts=4e9), WALL, T0)
    assert d["action"] == "SKIP" and "signal_ahead" in failed(d)
    assert engine(max_signal_ahead_s=60).decide(sig(market_ts=T0 + 60), WALL, T0)["action"] \
        == "BUY"


def test_live_feed_signal_far_from_wall_time_is_refused():
    """A live-feed SIGNAL whose market_ts is minutes from the wall clock is a SKIP; near is fine."""
    near = engine().decide(sig(market_ts=T0, wall=T0 + 1, feed="binance"), T0 + 1.5, T0)
    assert near["action"] == "BUY"
    far = engine().decide(sig(market_ts=T0, wall=T0 + 1, feed="binance"), T0 + 300, T0)
    assert "market_wall_skew" in failed(far)
    replay = engine().decide(sig(), WALL + 0.1, T0)   # a replay's old market time is fine
    assert replay["action"] == "BUY"
