"""executor: DECISION → ORDER/FILL, PRICE → exits (CLOSE), CONTROL → levers and flatten.

Correlation flows signal → decision → order → fill → close because each event is published with
its parent envelope. Every breaker state change is published as BREAKER and is in the heartbeat.

Durability: the ledger (``positions/``) and the paper book (``exchange/``) are journals written
with one ``os.write`` per change (durable against SIGKILL at once); a periodic task fsyncs both
every ``fsync_interval_ms`` in a worker thread (group commit: durable against power loss within
that interval), and ``stop`` syncs and closes them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hope.config import ConfigError
from hope.control.ack_position import acknowledged_position
from hope.control.flatten import is_flatten
from hope.control.trading import TradingStateFollower
from hope.envelope import Envelope
from hope.execution.breaker import CircuitBreaker
from hope.execution.exchange import PaperExchange
from hope.execution.executor import Executor
from hope.execution.limits import Limits
from hope.execution.live import LiveExecutor
from hope.execution.positions import ExecutorStore
from hope.execution.venue_setup import live_executor, venue_status
from hope.execution.venue_tasks import VenueTasks
from hope.runtime import Runtime
from hope.service import Service, every, subscribe
from hope.trading.state import TradingStateStore, is_fresh_instance
from hope.venue.adapter import WithdrawalsEnabled
from hope.venue.gate import CLOSED


def _fsync_s(runtime: Runtime) -> float:
    return runtime.config.execution.fsync_interval_ms / 1000


def open_exchange(runtime: Runtime) -> PaperExchange:
    cfg = runtime.config.execution
    exchange = PaperExchange(runtime.state.exchange, slippage_bps=cfg.slippage_bps,
                             commission_bps=cfg.commission_bps, fsync_interval_s=_fsync_s(runtime),
                             quarantine_dir=runtime.state.quarantine, log=runtime.log)
    for line in exchange.bad_lines:
        runtime.log.warning("exchange book line skipped", error=line)
    return exchange


def open_ledger(runtime: Runtime) -> ExecutorStore:
    cfg = runtime.config.execution
    return ExecutorStore(runtime.state.positions, fsync_interval_s=_fsync_s(runtime),
                         compact_every=cfg.compact_every, quarantine_dir=runtime.state.quarantine,
                         log=runtime.log)


def trading_follower(runtime: Runtime, store: ExecutorStore, tstore: TradingStateStore
                     ) -> TradingStateFollower:
    """The executor's trading state: CONTROL and the state file, held HALTED while the ledger
    is unreadable (it could double orders) or a quarantined position is not acknowledged (its
    exits are managed by nobody)."""
    if store.load_error:
        runtime.log.critical("executor ledger unreadable: HALTED", error=store.load_error)

    def hold() -> str | None:
        return "executor ledger unreadable" if store.load_error else store.hold_reason()

    # Away from the audit log ([audit] reader = "bus") no local file proves a fresh instance:
    # without a state file the executor starts HALTED and follows the file the decision engine
    # writes once the audit host said the log is fresh (or an operator's CONTROL).
    fresh = runtime.config.audit.reader == "local" and is_fresh_instance(runtime.state.events)
    return TradingStateFollower(
        tstore, tstore.load_or_init(runtime.config.decision.initial_trading_state, fresh),
        names=(runtime.name,), hold=hold)


class ExecutorService(Service):
    name = "executor"
    market_clock_from = "PRICE"

    def __init__(self, runtime: Runtime, *, executor: Executor, exchange: Any,
                 store: ExecutorStore, follower: TradingStateFollower) -> None:
        super().__init__(runtime)
        self.executor, self.exchange, self.store = executor, exchange, store
        self.follower = follower
        follower.on_change = self.set_trading
        self.breaker = executor.breaker
        self.cfg = runtime.config.execution
        self.changes: list[tuple[str, str, str]] = []  # (breaker name, old, new)
        self.breaker.on_change = lambda name, old, new: self.changes.append((name, old, new))
        self.lock = asyncio.Lock()  # one exchange conversation at a time: the ledger is not re-entrant
        # a live venue's executor (None: the paper exchange)
        self.live = executor if isinstance(executor, LiveExecutor) else None
        if self.live is not None:
            self.live.gate.on_change = lambda name, old, new: self.changes.append(
                (name, old, new))
            self.live.on_gate_change = self.write_venue_status
        self.venue_tasks: VenueTasks | None = None   # guards, stops, user stream
        if self.live is not None and self.live.guard is not None:
            self.venue_tasks = VenueTasks(runtime, self.live, resolve_now=self.resolve_now,
                                          lock=self.lock)
        self._last_reconcile = 0.0

    @classmethod
    def create(cls, runtime: Runtime, *, exchange: Any = None,
               store: ExecutorStore | None = None, tstore: TradingStateStore | None = None,
               breaker: CircuitBreaker | None = None) -> ExecutorService:
        cfg = runtime.config.execution
        store = store or open_ledger(runtime)
        tstore = tstore or TradingStateStore(runtime.state.trading_state)
        breaker = breaker or CircuitBreaker("exchange", failure_threshold=cfg.breaker_failures,
                                            reset_timeout_s=cfg.breaker_reset_s,
                                            clock=runtime.clock)
        limits = Limits.from_config(cfg, runtime.config.decision)
        if cfg.exchange == "binance":
            live = live_executor(runtime, store, breaker, tstore, limits, venue=exchange)
            follower = trading_follower(runtime, store, tstore)
            live.trading_state = follower.state
            return cls(runtime, executor=live, exchange=live.venue, store=store,
                       follower=follower)
        exchange = exchange or open_exchange(runtime)
        follower = trading_follower(runtime, store, tstore)
        executor = Executor(cfg, exchange, store, breaker, market_clock=runtime.market_clock,
                            trading_state=follower.state, log=runtime.log, limits=limits)
        return cls(runtime, executor=executor, exchange=exchange, store=store, follower=follower)

    # handlers -----------------------------------------------------------------------------
    @subscribe("DECISION", verify_id=True)
    async def on_decision(self, env: Envelope) -> None:
        async with self.lock:
            try:
                await self.executor.handle_decision(env, self.publish)
            finally:
                await self.publish_breaker()

    @subscribe("PRICE", idempotent=True)
    async def on_price(self, env: Envelope) -> None:
        """The venue's last price, then the exit check of the positions this PRICE can close
        (:mod:`hope.execution.exit_watch`); most PRICEs (no position on their symbol, no
        timeout due) take no lock. Idempotent: the price is set to the
        same value again, and the exit check looks at the journaled position state, not at the
        event: a position closing has its SELL under an id derived from the position (queried,
        never sent twice) and a closed one is gone from the ledger, so a PRICE handled again
        can close nothing twice (a CLOSE it caused also marks the PRICE done, as causation)."""
        p = env.payload
        symbol = p["symbol"]
        self.executor.on_price(symbol, p["price"], p["market_ts"])
        # while the lock is held (a query in flight) the positions may be about to change:
        # wait for it, and let the exit check decide what is due once they did
        if not self.store.positions or (not self.lock.locked()
                                        and not self.executor.exits_due(symbol)):
            return
        async with self.lock:
            try:
                await self.executor.check_exits(self.publish, symbol)
            finally:
                await self.publish_breaker()

    @subscribe("CONTROL", verify_id=True)
    async def on_control(self, env: Envelope) -> None:
        if await self.follower.on_control(env):
            return
        order_id = acknowledged_position(env.payload, self.runtime.name)
        if order_id is not None:
            async with self.lock:
                released = self.store.acknowledge_position(order_id)
                if self.live is not None:
                    released = self.live.rechecks.release(order_id) or released
            self.log.warning("quarantined position acknowledged", order_id=order_id,
                             released=released, by=env.event_id,
                             still_held=self.store.hold_reason())
            await self.follower.reload()
            return
        if is_flatten(env.payload, self.runtime.name):
            async with self.lock:
                n = await self.executor.flatten(self.publish)
                await self.publish_breaker()
            self.log.warning("flatten", closed=n, still_open=len(self.store.positions))

    def set_trading(self, old: str, new: str, why: str) -> None:
        self.log.warning("trading state", old=old, new=new, by=why)
        self.executor.trading_state = new

    # periodic -----------------------------------------------------------------------------
    @every(lambda self: self.cfg.state_reload_s)
    async def reload_state(self) -> None:
        await self.follower.reload()

    @every(lambda self: self.cfg.breaker_publish_s)
    async def republish_breaker(self) -> None:
        self.breaker.tick()  # open → half-open on time, so the trial BUY can come
        self.announce_breakers()  # for late subscribers
        await self.publish_breaker()

    def announce_breakers(self) -> None:
        self.changes.append((self.breaker.name, self.breaker.state, self.breaker.state))
        if self.live is not None:
            gate = self.live.gate
            self.changes.append((gate.name, gate.state, gate.state))
        if self.venue_tasks is not None:
            self.changes += [(n, s, s) for n, s in self.venue_tasks.breakers()]

    @every(lambda self: 1.0 if self.venue_tasks is not None else 0)
    async def venue_tick(self) -> None:
        """Clock offset when due, rate limits, breaker venue_guard, stops of unknown outcome."""
        assert self.venue_tasks is not None
        await self.venue_tasks.tick(self.changes, self.publish)
        await self.publish_breaker()

    async def resolve_now(self) -> None:
        """Orders of unknown outcome asked at once (a fill of one was seen on the stream)."""
        if self.live is None:
            return
        async with self.lock:
            try:
                await self.live.resolve_pending(self.publish)
            finally:
                await self.publish_breaker()

    # live venue: orders of unknown outcome queried, reconciliation repeated ----------------
    @every(lambda self: self.cfg.binance.resolve_interval_s if self.live else 0)
    async def resolve_unknown(self) -> None:
        live = self.live
        if live is None or not (live.pending() or any(
                p.closing and p.closing.attempted for p in self.store.positions.values())):
            return
        async with self.lock:
            try:
                await live.resolve_pending(self.publish)
                await live.resolve_closes(self.publish)
            finally:
                await self.publish_breaker()

    @every(lambda self: min(self.cfg.binance.reconcile_retry_s,
                            self.cfg.binance.reconcile_interval_s) if self.live else 0)
    async def reconcile_again(self) -> None:
        """Every ``reconcile_interval_s``; after a failure every ``reconcile_retry_s``."""
        live = self.live
        if live is None:
            return
        bcfg = self.cfg.binance
        due = bcfg.reconcile_retry_s if live.gate.state != CLOSED else bcfg.reconcile_interval_s
        if self.clock.monotonic() - self._last_reconcile < due:
            return
        if live.guard is not None and live.guard.blocked_s() > 0:
            # Backing off after a 429 or banned (418): it could not even start, and asking
            # would extend a ban. Due again when the venue may be asked; nothing is sent
            # meanwhile, and the 429/418 ALERT has said why.
            return
        async with self.lock:
            try:
                await live.reconcile_venue(self.publish)
            finally:
                self._last_reconcile = self.clock.monotonic()
                await self.publish_breaker()

    def write_venue_status(self) -> None:
        if self.live is not None:
            venue_status(self.runtime, self.live)

    # Every half interval, so a line waits at most ~fsync_interval_ms; when this task runs late
    # (the loop is saturated) an overdue append wakes the journals' sync thread (hope.journal)
    # instead. fsync off the event loop either way: decisions
    # keep flowing while the disk works. fsync_interval_ms = 0: every append fsyncs, no task.
    @every(lambda self: self.cfg.fsync_interval_ms / 2000)
    async def group_commit(self) -> None:
        if self.store.dirty or self.exchange.dirty:
            await asyncio.to_thread(self.sync_both)

    async def publish_breaker(self) -> None:
        while self.changes:
            name, old, new = self.changes.pop(0)
            if old != new:
                self.log.warning("circuit breaker changed", name=name, old=old, new=new)
            payload = {"service": self.runtime.name, "name": name, "state": new, "previous": old}
            if self.live is not None and name == self.live.gate.name:
                payload["reason"] = self.live.gate.reason
            elif self.venue_tasks is not None and (why := self.venue_tasks.reason(name)):
                payload["reason"] = why
            await self.publish("BREAKER", payload)

    # lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        # the bus is up, so what reconciliation publishes is not lost
        async with self.lock:
            if self.live is not None:
                self.announce_breakers()  # "reconciling" before anything else
                await self.publish_breaker()
            if self.venue_tasks is not None:
                await self.venue_tasks.prepare()
            try:
                report = await self.executor.reconcile(self.publish)
            except WithdrawalsEnabled as exc:  # exit 78, as a bad config: a human must act
                raise ConfigError(f"[execution.binance] {exc}") from None
            finally:
                self._last_reconcile = self.clock.monotonic()
            self.announce_breakers()  # announce once
            await self.publish_breaker()
        if self.venue_tasks is not None:
            self.venue_tasks.start()
        self.log.info("reconciled with the exchange", resumed=report["resumed"],
                      dropped=report["dropped"], orphans=report["orphans"])
        for alert in report["quarantined"]:  # evidence in quarantine/executor-ledger.bin
            await self.publish("ALERT", {"service": self.runtime.name, **alert})

    def sync_both(self) -> None:
        self.store.sync()  # the ledger first: its intent precedes the venue's order
        self.exchange.sync()

    async def stop(self) -> None:
        if self.venue_tasks is not None:
            await self.venue_tasks.stop()
        self.store.close()
        self.exchange.close()
        if self.live is not None:
            await self.live.venue.aclose()

    def kill(self) -> None:
        if self.venue_tasks is not None:
            self.venue_tasks.kill()
        for close in (self.store.close, self.exchange.close):
            try:
                close()
            except Exception:  # kill never raises: both journals are durable per write
                pass

    def heartbeat(self) -> dict[str, Any]:
        store = self.store
        breakers = {self.breaker.name: self.breaker.state}
        venue: dict[str, Any] = {}
        if self.live is not None:
            breakers[self.live.gate.name] = self.live.gate.state
            venue = {"venue": {"name": self.live.venue.name, "requests": self.live.venue.requests,
                               "usage": dict(self.live.venue.usage),
                               "breaker_reason": self.live.gate.reason}}
        if self.venue_tasks is not None:
            breakers.update(self.venue_tasks.breakers())
            venue["venue"].update(self.venue_tasks.heartbeat()["venue"])
        return {"breakers": breakers,
                "trading_state": self.executor.trading_state,
                "open_positions": len(store.positions), "ledger_records": len(store.orders),
                "ledger_compactions": store.compactions, "ledger_fsyncs": store.fsyncs,
                **dict(self.executor.stats),
                "refusals": {f"limit_{k}": n for k, n in self.executor.refusals.items()},
                **venue}
