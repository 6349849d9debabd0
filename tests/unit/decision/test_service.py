"""DecisionService on the in-process bus: one DECISION per SIGNAL, CONTROL, rebuild."""

from __future__ import annotations

import asyncio
import json

from hope.bus.memory import LocalBroker
from hope.decision.service import DecisionService
from hope.envelope import new_event
from hope.runtime import Runtime
from hope.testing import async_wait_for, make_config, service_for_tests
from hope.trading.state import TradingStateStore

T0 = 1_610_226_000.0


def sig(symbol="EVXBTC", market_ts=T0):
    return new_event("SIGNAL", {"symbol": symbol, "strategy": "pump", "price": 1e-5,
                                "market_ts": market_ts, "buys_per_sec": 5.0, "delta_pct": 10.0,
                                "window_s": 2.0}, source="scanner")


async def start(tmp_path, broker):
    feeder = Runtime("scanner", make_config(tmp_path / "feed"), broker.bus("scanner"))
    engine = await service_for_tests(DecisionService, tmp_path / "st", broker)
    tasks = [asyncio.create_task(s.run()) for s in (feeder, engine.runtime)]
    await async_wait_for(lambda: len(broker.buses) == 2, message="buses started")
    return feeder, engine, tasks


async def stop(services, tasks):
    for s in services:
        getattr(s, "runtime", s).request_stop()
    await asyncio.gather(*tasks)


def decisions(broker):
    return [e for e in broker.published if e.event_type == "DECISION"]


async def feed_ready(feeder, symbol="EVXBTC"):
    await feeder.publish("WATERMARK", {"watermarks": {}})
    await feeder.publish("PRICE", {"symbol": symbol, "price": 1e-5, "market_ts": T0})


async def test_one_decision_per_signal_with_parent(tmp_path):
    """Each SIGNAL gets exactly one DECISION whose causation is the signal; a resend gets none."""
    broker = LocalBroker()
    feeder, engine, tasks = await start(tmp_path, broker)
    try:
        await feed_ready(feeder)
        s = await feeder.publish_event(sig())
        await async_wait_for(lambda: decisions(broker), message="a decision")
        await feeder.publish_event(s)  # redelivery of the same event
        await feeder.publish("PRICE", {"symbol": "EVXBTC", "price": 1e-5, "market_ts": T0 + 1})
        await async_wait_for(lambda: engine.runtime.bus.received_types.get("PRICE") == 2,
                             message="second price")
        (d,) = decisions(broker)
        assert d.causation_id == s.event_id and d.correlation_id == s.correlation_id
        assert d.payload["action"] == "BUY", d.payload["reasons"]
    finally:
        await stop((feeder, engine), tasks)


async def test_control_halt_is_obeyed_and_persisted(tmp_path):
    """CONTROL halt makes the next SIGNAL a SKIP trading_state and writes the state file."""
    broker = LocalBroker()
    feeder, engine, tasks = await start(tmp_path, broker)
    try:
        await feed_ready(feeder)
        await feeder.publish("CONTROL", {"service": "*", "command": "halt"})
        await async_wait_for(lambda: any(e.event_type == "TRADING_STATE"
                                         for e in broker.published), message="TRADING_STATE")
        await feeder.publish_event(sig())
        await async_wait_for(lambda: decisions(broker), message="a decision")
        rules = {r["rule"] for r in decisions(broker)[0].payload["reasons"]}
        assert "trading_state" in rules and decisions(broker)[0].payload["action"] == "SKIP"
        assert TradingStateStore(engine.state.trading_state).load() == "HALTED"
    finally:
        await stop((feeder, engine), tasks)


async def test_restart_rebuilds_positions_from_audit_log(tmp_path):
    """An audited BUY without CLOSE is an open position after restart: same symbol → SKIP."""
    events = tmp_path / "st" / "events"
    events.mkdir(parents=True)
    old = new_event("DECISION", {"symbol": "EVXBTC", "action": "BUY", "confidence": 0.7,
                                 "reasons": [], "position_size": 0.001, "targets": {},
                                 "config_hash": "cfg:x", "market_ts": T0 - 5000,
                                 "quote": "BTC"}, source="decision-engine")
    (events / "decisions.jsonl").write_text(json.dumps(old.to_dict()) + "\n")
    TradingStateStore(tmp_path / "st" / "trading_state").save("ACTIVE")
    broker = LocalBroker()
    feeder, engine, tasks = await start(tmp_path, broker)
    try:
        await feed_ready(feeder)
        await feeder.publish_event(sig())
        await async_wait_for(lambda: decisions(broker), message="a decision")
        rules = {r["rule"] for r in decisions(broker)[0].payload["reasons"]}
        assert rules == {"duplicate_position", "symbol_exposure"}
    finally:
        await stop((feeder, engine), tasks)


async def test_restart_with_unreadable_state_is_halted(tmp_path):
    """A corrupt trading_state file after restart means HALTED: the SIGNAL is skipped."""
    (tmp_path / "st").mkdir()
    (tmp_path / "st" / "trading_state").write_text("garbage")
    broker = LocalBroker()
    feeder, engine, tasks = await start(tmp_path, broker)
    try:
        await feed_ready(feeder)
        await feeder.publish_event(sig())
        await async_wait_for(lambda: decisions(broker), message="a decision")
        assert decisions(broker)[0].payload["action"] == "SKIP"
        assert "trading_state" in {r["rule"] for r in decisions(broker)[0].payload["reasons"]}
    finally:
        await stop((feeder, engine), tasks)


async def test_price_is_last_value_read_when_a_signal_is_decided(tmp_path):
    """No handler runs per PRICE; the SIGNAL's decision reads the newest PRICE of its symbol
    (the last of several) and moves the market clock to it."""
    broker = LocalBroker()
    feeder, engine, tasks = await start(tmp_path, broker)
    try:
        await feeder.publish("WATERMARK", {"watermarks": {}})
        for i, price in enumerate((1e-5, 3e-5, 2e-5)):
            await feeder.publish("PRICE", {"symbol": "EVXBTC", "price": price,
                                           "market_ts": T0 + i})
        await feeder.publish_event(sig())
        await async_wait_for(lambda: decisions(broker), message="a decision")
        assert "on_price" not in engine.runtime.handler_stats
        assert engine.risk.prices["EVXBTC"] == (2e-5, T0 + 2)
        assert engine.runtime.market_clock.now() == T0 + 2
    finally:
        await stop([feeder, engine], tasks)
