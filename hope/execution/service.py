"""executor wiring: DECISION → ORDER/FILL, PRICE → exits (CLOSE), CONTROL → levers and flatten.

Correlation flows signal → decision → order → fill → close because each event is published with
its parent envelope. Every breaker state change is published as BREAKER and is in the heartbeat.

Durability: the ledger (``positions/``) and the paper book (``exchange/``) are journals written
with one ``os.write`` per change (durable against SIGKILL at once); a periodic task fsyncs both
every ``fsync_interval_ms`` in a worker thread (group commit: durable against power loss within
that interval), and ``on_stop`` syncs and closes them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hope.control.flatten import is_flatten
from hope.control.trading import TradingStateFollower
from hope.envelope import Envelope, new_event
from hope.execution.breaker import CircuitBreaker
from hope.execution.exchange import PaperExchange
from hope.execution.executor import Executor
from hope.execution.positions import ExecutorStore
from hope.trading.state import TradingStateStore, is_fresh_instance


async def setup(svc: Any) -> None:
    cfg = svc.config.execution
    fsync_s = cfg.fsync_interval_ms / 1000
    exchange = PaperExchange(svc.state.exchange, slippage_bps=cfg.slippage_bps,
                             commission_bps=cfg.commission_bps, fsync_interval_s=fsync_s,
                             quarantine_dir=svc.state.quarantine, log=svc.log)
    for line in exchange.bad_lines:
        svc.log.warning("exchange book line skipped", error=line)
    store = ExecutorStore(svc.state.positions, fsync_interval_s=fsync_s,
                          compact_every=cfg.compact_every, quarantine_dir=svc.state.quarantine,
                          log=svc.log)
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker("exchange", failure_threshold=cfg.breaker_failures,
                             reset_timeout_s=cfg.breaker_reset_s, clock=svc.clock,
                             on_change=lambda name, old, new: changes.append((old, new)))
    tstore = TradingStateStore(svc.state.trading_state)
    if store.load_error:  # a ledger we cannot read could double orders: refuse to trade
        svc.log.critical("executor ledger unreadable: HALTED", error=store.load_error)

    def set_trading(old: str, new: str, why: str) -> None:
        svc.log.warning("trading state", old=old, new=new, by=why)
        executor.trading_state = new

    follower = TradingStateFollower(
        tstore, tstore.load_or_init(svc.config.decision.initial_trading_state,
                                    is_fresh_instance(svc.state.events)),
        names=(svc.name,), on_change=set_trading,
        hold=lambda: "executor ledger unreadable" if store.load_error else None)
    executor = Executor(cfg, exchange, store, breaker, market_clock=svc.market_clock,
                        trading_state=follower.state, log=svc.log)
    lock = asyncio.Lock()  # one exchange conversation at a time: the ledger is not re-entrant

    async def publish(event_type: str, payload: dict[str, Any], parent: Envelope | None,
                      timestamp: str | None) -> Envelope:
        # a fixed timestamp makes a republish after a crash carry the same event_id
        env = new_event(event_type, payload, source=svc.name, parent=parent, timestamp=timestamp)
        return await svc.publish_event(env)

    async def publish_breaker() -> None:
        while changes:
            old, new = changes.pop(0)
            if old != new:
                svc.log.warning("circuit breaker changed", old=old, new=new)
            await svc.publish("BREAKER", {"service": svc.name, "name": breaker.name,
                                          "state": new, "previous": old})

    async def on_decision(env: Envelope) -> None:
        async with lock:
            try:
                await executor.handle_decision(env, publish)
            finally:
                await publish_breaker()

    async def on_price(env: Envelope) -> None:
        p = env.payload
        executor.on_price(p["symbol"], p["price"], p["market_ts"])
        if not store.positions:
            return
        async with lock:
            try:
                await executor.check_exits(publish)
            finally:
                await publish_breaker()

    async def on_control(env: Envelope) -> None:
        if await follower.on_control(env):
            return
        if is_flatten(env.payload, svc.name):
            async with lock:
                n = await executor.flatten(publish)
                await publish_breaker()
            svc.log.warning("flatten", closed=n, still_open=len(store.positions))

    async def republish_breaker() -> None:
        changes.append((breaker.state, breaker.state))  # for subscribers that started late
        await publish_breaker()

    async def reconcile() -> None:
        # on_start: the bus is up, so what reconciliation publishes is not lost
        async with lock:
            report = await executor.reconcile(publish)
            changes.append((breaker.state, breaker.state))  # announce the state once at start
            await publish_breaker()
        svc.log.info("reconciled with the exchange", resumed=report["resumed"],
                     dropped=report["dropped"], orphans=report["orphans"])
        for alert in report["quarantined"]:  # evidence in quarantine/executor-ledger.bin
            await svc.publish("ALERT", {"service": svc.name, **alert})

    def sync_both() -> None:
        store.sync()  # the ledger first: its intent precedes the venue's order
        exchange.sync()

    async def group_commit() -> None:
        # fsync off the event loop: decisions keep flowing while the disk works
        if store.dirty or exchange.dirty:
            await asyncio.to_thread(sync_both)

    def close_files() -> None:
        store.close()
        exchange.close()

    svc.on_start(reconcile)
    svc.on_stop(close_files)
    if fsync_s > 0:
        # every half interval, so a line waits at most ~fsync_interval_ms; appends fsync inline
        # only when this task runs late (the loop is saturated)
        svc.every(fsync_s / 2, group_commit)
    svc.subscribe("DECISION", on_decision, verify_id=True)
    svc.subscribe("PRICE", on_price)
    svc.subscribe("CONTROL", on_control, verify_id=True)
    svc.every(cfg.state_reload_s, follower.reload)
    svc.every(cfg.breaker_publish_s, republish_breaker)
    svc.heartbeat_extras.append(lambda: {
        "breakers": {breaker.name: breaker.state}, "trading_state": executor.trading_state,
        "open_positions": len(store.positions), "ledger_records": len(store.orders),
        "ledger_compactions": store.compactions,
        "ledger_fsyncs": store.fsyncs, **dict(executor.stats)})
