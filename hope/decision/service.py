"""decision-engine: exactly one DECISION per SIGNAL, risk state kept current from the bus.

Before the first decision the risk state is rebuilt from the audit log (open positions, daily
P&L, cooldowns, and which signals already have a DECISION, so a redelivered SIGNAL gets none):
the local one, or with ``[audit] reader = "bus"`` the audit host's, asked over the bus. An
engine that cannot rebuild (no answer) holds HALTED whatever the file or CONTROL says, and
says why (heartbeat ``rebuild_error``, ALERT ``risk_rebuild_failed``).
"""

from __future__ import annotations

from typing import Any

from hope.audit.reader import AuditReader, open_reader
from hope.audit.remote import AuditUnavailable, fetch
from hope.control.trading import TradingStateFollower
from hope.decision.engine import DecisionEngine
from hope.decision.risk_state import RiskState
from hope.envelope import Envelope
from hope.runtime import Runtime
from hope.service import Service, every, subscribe
from hope.trading.state import HALTED, TradingStateStore, fresh_log, is_fresh_instance

REBUILD_FAMILIES = ["decisions", "orders", "closes"]


class RiskFeeds(Service):
    """Keeps ``self.risk`` current from the bus: prices, refused orders, closes, breakers and
    the audit watermark (shared by the live and the shadow engine).

    A decision needs only the newest PRICE of its symbol and the market clock, so PRICE is
    last-value (``latest_of``), taken in order with the other events: when a SIGNAL is handled,
    every PRICE published before it has been kept, and :meth:`prices_for` reads the one it
    needs through the market clock's rules (market-clock middleware). The market clock moves
    on those reads (a SIGNAL, a CLOSE, and once per heartbeat interval)."""

    market_clock_from = "PRICE"
    latest_of = ("PRICE",)
    latest_in_order = True
    risk: RiskState

    async def prices_for(self, symbol: object) -> None:
        """Bring the risk state's price of ``symbol`` and the market clock to the newest PRICEs
        kept; none that passes every check: the symbol has no price (no PRICE, no trade)."""
        if isinstance(symbol, str):
            env = await self.runtime.latest(f"PRICE.{symbol}")
            if env is None:
                self.risk.prices.pop(symbol, None)
            else:
                p = env.payload
                self.risk.on_price(p["symbol"], p["price"], p["market_ts"])
        await self.runtime.newest("PRICE")

    @subscribe("ORDER")
    def on_order(self, env: Envelope) -> None:
        self.risk.on_order(env.payload)

    @subscribe("CLOSE")
    async def on_close(self, env: Envelope) -> None:
        await self.runtime.newest("PRICE")
        self.risk.on_close(env.payload, self.market_clock.now())

    @subscribe("BREAKER")
    def on_breaker(self, env: Envelope) -> None:
        self.risk.on_breaker(env.payload)

    @subscribe("WATERMARK")
    def on_watermark(self, env: Envelope) -> None:
        self.risk.on_watermark(env.payload, self.clock.time(), self.runtime.name)


class DecisionService(RiskFeeds):
    name = "decision-engine"

    def __init__(self, runtime: Runtime, *, engine: DecisionEngine, store: TradingStateStore
                 ) -> None:
        super().__init__(runtime)
        self.engine = engine
        self.risk = engine.state
        self.store = store
        self.rebuild_error: str | None = None
        self.follower = TradingStateFollower(store, self.risk.trading, names=(runtime.name,),
                                             persist=True, on_change=self.set_trading,
                                             hold=lambda: self.rebuild_error)

    @classmethod
    def create(cls, runtime: Runtime, *, engine: DecisionEngine | None = None,
               store: TradingStateStore | None = None) -> DecisionService:
        config, state = runtime.config, runtime.state
        store = store or TradingStateStore(state.trading_state)
        if engine is None:  # over the bus, freshness is known only once the log answered
            fresh = config.audit.reader == "local" and is_fresh_instance(state.events)
            risk = RiskState(trading=store.load_or_init(config.decision.initial_trading_state,
                                                        fresh))
            if store.last_error:
                runtime.log.warning("trading state unknown: HALTED (fail-closed)",
                                    error=store.last_error)
            engine = DecisionEngine(config.decision, config.hash("decision"), risk)
        return cls(runtime, engine=engine, store=store)

    async def setup(self) -> None:
        audit = await self.audit_log()
        if audit is None:
            return
        self.engine.remember(self.risk.rebuild(audit.records("decisions"),
                                               audit.records("orders"), audit.records("closes")))
        for w in audit.warnings:
            self.log.warning("audit log line skipped during risk rebuild", error=w)
        self.log.info("risk state rebuilt", open_positions=len(self.risk.positions),
                      trading_state=self.risk.trading)

    async def audit_log(self) -> AuditReader | None:
        """The audit log to rebuild from; None (and HALTED) when the audit host is silent."""
        if self.config.audit.reader == "local":
            return open_reader(self.state)
        try:
            audit = await fetch(self.config, REBUILD_FAMILIES, asker=self.runtime.name)
        except AuditUnavailable as exc:
            self.rebuild_error = f"risk state not rebuilt: {exc}"
            self.risk.trading = self.follower.state = HALTED
            self.log.error("risk state not rebuilt: HALTED (fail-closed)", error=str(exc))
            return None
        if not self.store.path.exists() and fresh_log(audit.families()):
            self.store.save(self.config.decision.initial_trading_state, changed_by="init")
            self.risk.trading = self.follower.state = self.store.load()
        self.log.info("audit log read over the bus", source=audit.source,
                      families=len(audit.families()))
        return audit

    async def start(self) -> None:
        if self.rebuild_error:
            await self.publish("ALERT", {"kind": "risk_rebuild_failed",
                                         "service": self.runtime.name,
                                         "detail": self.rebuild_error})

    @subscribe("SIGNAL", verify_id=True)
    async def on_signal(self, env: Envelope) -> None:
        if self.engine.already_decided(env.event_id):
            self.metrics["duplicate_signals"] += 1
            return
        # the signal's own market_ts is read from its payload (signal age); it moves no clock
        await self.prices_for(env.payload.get("symbol"))
        payload = self.engine.decide(env, self.clock.time(), self.market_clock.now())
        out = await self.publish("DECISION", payload, parent=env)
        self.engine.commit(out)
        self.risk.note_published(out.epoch, out.seq, self.clock.time())
        self.metrics[f"decisions_{payload['action'].lower()}"] += 1

    @subscribe("CONTROL", verify_id=True)
    async def on_control(self, env: Envelope) -> None:
        await self.follower.on_control(env)

    @every(lambda self: self.config.decision.state_reload_s)
    async def reload_state(self) -> None:
        await self.follower.reload()

    async def set_trading(self, old: str, new: str, why: str) -> None:
        self.risk.trading = new
        self.log.warning("trading state changed", old=old, new=new, by=why)
        await self.publish("TRADING_STATE", {"service": self.runtime.name, "state": new,
                                             "previous": old, "by": why})

    def heartbeat(self) -> dict[str, Any]:
        return {"trading_state": self.risk.trading, "open_positions": len(self.risk.positions),
                "audit_lag_s": self.risk.audit_lag(self.clock.time()),
                **({"rebuild_error": self.rebuild_error} if self.rebuild_error else {})}
