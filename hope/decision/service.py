"""decision-engine wiring: exactly one DECISION per SIGNAL, risk state kept current from the bus.

Before the first decision the risk state is rebuilt from the audit log (open positions, daily
P&L, cooldowns, and which signals already have a DECISION, so a redelivered SIGNAL gets none).
"""

from __future__ import annotations

from typing import Any

from hope.audit.reader import open_reader
from hope.control.trading import TradingStateFollower
from hope.decision.engine import DecisionEngine
from hope.decision.risk_state import RiskState
from hope.envelope import Envelope
from hope.trading.state import TradingStateStore, is_fresh_instance


def subscribe_risk_feeds(svc: Any, state: RiskState) -> None:
    """Keep a RiskState current from the bus: prices, refused orders, closes, breakers and the
    audit watermark (shared by the live and the shadow engine). The runtime moves the market
    clock on PRICE itself."""
    svc.subscribe("PRICE", lambda env: state.on_price(
        env.payload["symbol"], env.payload["price"], env.payload["market_ts"]), name="on_price")
    svc.subscribe("ORDER", lambda env: state.on_order(env.payload), name="on_order")
    svc.subscribe("CLOSE", lambda env: state.on_close(env.payload, svc.market_clock.now()),
                  name="on_close")
    svc.subscribe("BREAKER", lambda env: state.on_breaker(env.payload), name="on_breaker")
    svc.subscribe("WATERMARK", lambda env: state.on_watermark(
        env.payload, svc.clock.time(), svc.name), name="on_watermark")


async def setup(svc: Any) -> None:
    cfg = svc.config.decision
    store = TradingStateStore(svc.state.trading_state)
    state = RiskState(trading=store.load_or_init(cfg.initial_trading_state,
                                                 is_fresh_instance(svc.state.events)))
    if store.last_error:
        svc.log.warning("trading state unknown: HALTED (fail-closed)", error=store.last_error)
    engine = DecisionEngine(cfg, svc.config.hash("decision"), state)
    audit = open_reader(svc.state)
    engine.remember(state.rebuild(audit.records("decisions"), audit.records("orders"),
                                  audit.records("closes")))
    for w in audit.warnings:
        svc.log.warning("audit log line skipped during risk rebuild", error=w)
    svc.log.info("risk state rebuilt", open_positions=len(state.positions),
                 trading_state=state.trading)

    async def set_trading(old: str, new: str, why: str) -> None:
        state.trading = new
        svc.log.warning("trading state changed", old=old, new=new, by=why)
        await svc.publish("TRADING_STATE", {"service": svc.name, "state": new,
                                            "previous": old, "by": why})

    follower = TradingStateFollower(store, state.trading, names=(svc.name,), persist=True,
                                    on_change=set_trading)

    async def on_signal(env: Envelope) -> None:  # the runtime has moved the market clock already
        if engine.already_decided(env.event_id):
            svc.metrics["duplicate_signals"] += 1
            return
        payload = engine.decide(env, svc.clock.time(), svc.market_clock.now())
        out = await svc.publish("DECISION", payload, parent=env)
        engine.commit(out)
        state.note_published(out.epoch, out.seq, svc.clock.time())
        svc.metrics[f"decisions_{payload['action'].lower()}"] += 1

    svc.subscribe("SIGNAL", on_signal, verify_id=True)
    subscribe_risk_feeds(svc, state)
    svc.subscribe("CONTROL", follower.on_control, name="on_control", verify_id=True)
    svc.every(cfg.state_reload_s, follower.reload)
    svc.heartbeat_extras.append(lambda: {
        "trading_state": state.trading, "open_positions": len(state.positions),
        "audit_lag_s": state.audit_lag(svc.clock.time())})
