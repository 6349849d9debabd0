"""ExecutorService on the in-process bus: signal → decision → order → fill → close, levers."""

from __future__ import annotations

import asyncio
import json

from hope.bus.memory import LocalBroker
from hope.control.ack_position import ack_position_payload
from hope.decision.service import DecisionService
from hope.envelope import new_event
from hope.execution.records import PendingOrder
from hope.execution.service import ExecutorService
from hope.runtime import Runtime
from hope.testing import async_wait_for, make_config, service_for_tests
from tests.helpers import ExecutorRecorder

T0 = 1_610_226_000.0


def of(broker, etype):
    return [e for e in broker.published if e.event_type == etype]


async def start(tmp_path, broker, with_engine=True):
    feeder = Runtime("scanner", make_config(tmp_path / "feed"), broker.bus("scanner"))
    services = [feeder]
    if with_engine:
        services.append(await service_for_tests(DecisionService, tmp_path / "st", broker))
    services.append(await service_for_tests(ExecutorService, tmp_path / "st", broker))
    tasks = [asyncio.create_task(getattr(s, "runtime", s).run()) for s in services]
    await async_wait_for(lambda: len(broker.buses) == len(services), message="buses")
    return services, tasks


async def stop(services, tasks):
    for s in services:
        getattr(s, "runtime", s).request_stop()
    await asyncio.gather(*tasks)


async def price(feeder, p, ts, symbol="EVXBTC"):
    await feeder.publish("PRICE", {"symbol": symbol, "price": p, "market_ts": ts})


async def test_pipeline_correlation_and_take_profit(tmp_path):
    """One correlation id flows signal→decision→order→fill→close, each caused by its parent."""
    broker = LocalBroker()
    services, tasks = await start(tmp_path, broker)
    feeder = services[0]
    try:
        await feeder.publish("WATERMARK", {"watermarks": {}})
        await price(feeder, 1e-5, T0)
        sig = await feeder.publish("SIGNAL", {
            "symbol": "EVXBTC", "strategy": "pump", "price": 1e-5, "market_ts": T0,
            "buys_per_sec": 5.0, "delta_pct": 10.0, "window_s": 2.0})
        await async_wait_for(lambda: of(broker, "FILL"), message="fill")
        await price(feeder, 1.1e-5, T0 + 30)
        await async_wait_for(lambda: of(broker, "CLOSE"), message="close")
        (d,), (o,), (f,), (c,) = (of(broker, t) for t in ("DECISION", "ORDER", "FILL", "CLOSE"))
        assert {sig.correlation_id} == {d.correlation_id, o.correlation_id, f.correlation_id,
                                        c.correlation_id}
        assert (d.causation_id, o.causation_id, f.causation_id, c.causation_id) == (
            sig.event_id, d.event_id, o.event_id, f.event_id)
        assert c.payload["reason"] == "take_profit" and c.payload["holding_s"] == 30.0
        assert c.payload["pnl"] > 0 and c.payload["quote"] == "BTC"
    finally:
        await stop(services, tasks)


async def test_flatten_and_breaker_events(tmp_path):
    """CONTROL flatten closes open positions (reason flatten); breaker changes are published."""
    broker = LocalBroker()
    services, tasks = await start(tmp_path, broker, with_engine=False)
    feeder = services[0]
    try:
        await price(feeder, 1e-5, T0)
        for i in range(2):
            decision = new_event("DECISION", {
                "symbol": "EVXBTC" if i == 0 else "GVTBTC", "action": "BUY", "confidence": 1.0,
                "reasons": [], "position_size": 0.001, "config_hash": "cfg:x",
                "market_ts": T0, "quote": "BTC",
                "targets": {"take_profit_pct": 5, "stop_loss_pct": 3, "timeout_s": 600}},
                source="decision-engine")
            await feeder.publish_event(decision)
        await async_wait_for(lambda: len(of(broker, "ORDER")) == 2, message="orders")
        statuses = sorted(o.payload["status"] for o in of(broker, "ORDER"))
        assert statuses == ["NEW", "REJECTED"]  # GVTBTC has no price yet
        await feeder.publish("CONTROL", {"service": "*", "command": "flatten"})
        await async_wait_for(lambda: of(broker, "CLOSE"), message="close")
        assert of(broker, "CLOSE")[0].payload["reason"] == "flatten"
    finally:
        await stop(services, tasks)


async def test_restart_reconciles_and_publishes_missing_order(tmp_path):
    """A decision saved as intent but never finished is completed by reconcile on start."""
    broker = LocalBroker()
    services, tasks = await start(tmp_path, broker, with_engine=False)
    feeder, executor = services
    await price(feeder, 1e-5, T0)
    await async_wait_for(lambda: executor.market_clock.now() == T0, message="price")
    await stop(services, tasks)
    # simulate a crash right after the intent was saved: the ledger holds an unfinished BUY
    from hope.execution.positions import ExecutorStore
    store = ExecutorStore(tmp_path / "st" / "positions")
    d = new_event("DECISION", {"symbol": "EVXBTC", "action": "BUY", "confidence": 1.0,
                               "reasons": [], "position_size": 0.001, "config_hash": "c",
                               "market_ts": 2e9, "quote": "BTC", "targets": {}},
                  source="decision-engine")
    store.orders["hope-" + d.event_id.removeprefix("sha256:")] = PendingOrder(decision=d)
    store.save()
    broker2 = LocalBroker()
    services, tasks = await start(tmp_path, broker2, with_engine=False)
    try:
        await async_wait_for(lambda: of(broker2, "ORDER"), message="order from reconcile")
        (o,) = of(broker2, "ORDER")
        assert o.causation_id == d.event_id
        assert o.payload["status"] == "REJECTED"  # after restart no price is known yet
    finally:
        await stop(services, tasks)


async def test_an_unreadable_ledger_record_is_an_alert_not_a_crash(tmp_path):
    """A ledger record that does not decode is quarantined at start and announced as an ALERT;
    the executor keeps running and trading."""
    positions = tmp_path / "st" / "positions"
    positions.mkdir(parents=True)
    (positions / "executor.json").write_text(json.dumps(
        {"gen": 1, "orders": {"hope-bad": {"done": True, "status": 7}}, "positions": {}}))
    broker = LocalBroker()
    services, tasks = await start(tmp_path, broker, with_engine=False)
    try:
        await async_wait_for(lambda: of(broker, "ALERT"), message="alert")
        (alert,) = of(broker, "ALERT")
        assert alert.payload["kind"] == "ledger_record_quarantined"
        assert alert.payload["key"] == "hope-bad" and "status" in alert.payload["error"]
        assert (tmp_path / "st" / "quarantine" / "executor-ledger.bin").exists()
        assert all(not t.done() for t in tasks)
    finally:
        await stop(services, tasks)


async def test_a_quarantined_position_holds_trading_until_acknowledged(tmp_path):
    """An unreadable position keeps the executor HALTED, also after a restart, until the
    operator's ack_position CONTROL releases it."""
    positions = tmp_path / "st" / "positions"
    positions.mkdir(parents=True)
    (positions / "executor.json").write_text(json.dumps(
        {"gen": 1, "orders": {}, "positions": {"hope-bad": {"symbol": 7}}}))
    for attempt in range(2):  # the hold survives the restart that compacted the record away
        broker = LocalBroker()
        services, tasks = await start(tmp_path, broker, with_engine=False)
        feeder, executor = services
        follower = executor.follower
        try:
            await async_wait_for(lambda f=follower: f.state == "HALTED", message="held")
            assert "hope-bad" in executor.store.hold_reason()
        finally:
            if attempt == 0:
                await stop(services, tasks)
    try:
        await feeder.publish("CONTROL", ack_position_payload("hope-bad"))
        await async_wait_for(lambda: executor.follower.state == "ACTIVE", message="released")
        assert executor.store.hold_reason() is None
    finally:
        await stop(services, tasks)


async def test_the_same_price_handled_again_closes_a_position_once(tmp_path):
    """PRICE is idempotent for the executor: the take-profit PRICE delivered again (as after a
    crash, its id not journaled) reaches the handler and publishes no second CLOSE."""
    broker = LocalBroker()
    services, tasks = await start(tmp_path, broker, with_engine=False)
    feeder, executor = services
    try:
        assert executor.runtime.idempotent("PRICE.EVXBTC")
        assert not executor.runtime.idempotent("DECISION.EVXBTC")
        await price(feeder, 1e-5, T0)
        await feeder.publish_event(new_event("DECISION", {
            "symbol": "EVXBTC", "action": "BUY", "confidence": 1.0, "reasons": [],
            "position_size": 0.001, "config_hash": "cfg:x", "market_ts": T0, "quote": "BTC",
            "targets": {"take_profit_pct": 5, "stop_loss_pct": 3, "timeout_s": 600}},
            source="decision-engine"))
        await async_wait_for(lambda: of(broker, "FILL"), message="fill")
        exit_price = new_event("PRICE", {"symbol": "EVXBTC", "price": 1.1e-5,
                                         "market_ts": T0 + 30}, source="scanner")
        await feeder.publish_event(exit_price)
        await async_wait_for(lambda: of(broker, "CLOSE"), message="close")
        seen = executor.runtime.events_in["PRICE"]
        await feeder.publish_event(exit_price)  # the same event again
        await async_wait_for(lambda: executor.runtime.events_in["PRICE"] == seen + 1,
                             message="the PRICE handled again")
        await price(feeder, 1.2e-5, T0 + 31)
        await async_wait_for(lambda: executor.runtime.events_in["PRICE"] == seen + 2,
                             message="a later PRICE")
        assert len(of(broker, "CLOSE")) == 1
        assert executor.runtime.handler_stats["on_price"].count == 4  # it ran every time
    finally:
        await stop(services, tasks)


def record_exit_checks(svc) -> list:
    """The symbol of every exit check the service runs from now on (None: every position)."""
    checked: list[str | None] = []
    real = svc.executor.check_exits

    async def check_exits(publish, symbol=None):
        checked.append(symbol)
        return await real(publish, symbol)

    svc.executor.check_exits = check_exits
    return checked


def buy_evx():
    """A BUY DECISION of EVXBTC at T0 (600 s timeout)."""
    return new_event("DECISION", {
        "symbol": "EVXBTC", "action": "BUY", "confidence": 1.0, "reasons": [],
        "position_size": 0.001, "config_hash": "cfg:x", "market_ts": T0, "quote": "BTC",
        "targets": {"take_profit_pct": 5, "stop_loss_pct": 3, "timeout_s": 600}},
        source="decision-engine")


async def test_price_no_position_can_close_runs_no_exit_check(tmp_path):
    """A PRICE no open position can close takes no lock; one of a held symbol checks it."""
    svc = await service_for_tests(ExecutorService, tmp_path / "st", LocalBroker())
    svc.runtime.market_clock.observe(T0)
    svc.executor.on_price("EVXBTC", 1e-5, T0)
    checked = record_exit_checks(svc)

    def price_env(symbol, ts, price=1e-5):
        return new_event("PRICE", {"symbol": symbol, "price": price, "market_ts": ts},
                         source="scanner")

    await svc.on_price(price_env("GVTBTC", T0))  # nothing open
    decision = buy_evx()
    await svc.executor.handle_decision(decision, ExecutorRecorder())
    await svc.on_price(price_env("GVTBTC", T0 + 1))  # the positions changed: all checked once
    await svc.on_price(price_env("GVTBTC", T0 + 2))
    await svc.on_price(price_env("EVXBTC", T0 + 3))
    assert checked == ["GVTBTC", "EVXBTC"] and len(svc.store.positions) == 1
    svc.store.close()


async def test_price_arriving_while_the_lock_is_held_waits_and_checks(tmp_path):
    """A PRICE no position can close, arriving while a periodic task holds the lock (its
    outcome may change the positions), waits for the lock and runs the exit check."""
    svc = await service_for_tests(ExecutorService, tmp_path / "st", LocalBroker())
    svc.runtime.market_clock.observe(T0)
    decision = buy_evx()
    svc.executor.on_price("EVXBTC", 1e-5, T0)
    await svc.executor.handle_decision(decision, ExecutorRecorder())
    checked = record_exit_checks(svc)
    price = new_event("PRICE", {"symbol": "GVTBTC", "price": 1e-5, "market_ts": T0 + 1},
                      source="scanner")
    await svc.on_price(price)   # the positions changed since the last check: checked once
    async with svc.lock:
        waiting = asyncio.ensure_future(svc.on_price(new_event(
            "PRICE", {"symbol": "GVTBTC", "price": 1e-5, "market_ts": T0 + 2},
            source="scanner")))
        await asyncio.sleep(0)
        assert not waiting.done()   # it waits for the lock instead of returning
    await waiting
    assert checked == ["GVTBTC", "GVTBTC"]
    svc.store.close()
