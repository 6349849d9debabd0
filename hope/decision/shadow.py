"""decision-engine-shadow: a candidate decision config decides every SIGNAL beside the live engine.

It publishes SHADOW_DECISION (which the executor never subscribes to) instead of DECISION, and it
never writes anything the live path reads: no trading-state file, no TRADING_STATE events. Its
risk state mirrors the live book, so each shadow decision answers "would the candidate have taken
this signal, given what live actually holds?": positions come from the live DECISIONs (audit log at
start, then the bus), freed by ORDER refusals and CLOSEs like the live engine's. The signals it
already decided come from the ``shadow_decisions`` audit family, so a restart decides none twice.
``hope report --shadow`` pairs both sides by the SIGNAL they decided.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hope.audit.reader import open_reader
from hope.config import Config, ConfigError, load
from hope.control.trading import TradingStateFollower
from hope.decision.config import DecisionConfig
from hope.decision.engine import DecisionEngine
from hope.decision.risk_state import RiskState
from hope.decision.service import RiskFeeds
from hope.envelope import Envelope
from hope.runtime import Runtime
from hope.service import every, subscribe
from hope.trading.book import apply_buy
from hope.trading.state import TradingStateStore

SERVICE = "decision-engine-shadow"


def candidate_path(config: Config) -> Path:
    """``[shadow] config``, relative to the main config file's directory (or the cwd)."""
    path = Path(config.shadow.config).expanduser()
    if not path.is_absolute():
        base = config.path.parent if config.path else Path.cwd()
        path = base / path
    return path


def load_candidate(config: Config) -> tuple[DecisionConfig, str, Path]:
    """(candidate [decision] section, its config hash, the file). Raises ConfigError naming the
    file and key when it is missing or invalid: the shadow then refuses to start."""
    path = candidate_path(config)
    if not path.is_file():
        raise ConfigError(f"{path}: shadow candidate config not found "
                          f"([shadow] config = {config.shadow.config!r})")
    candidate = load(path, config.state.root)
    return candidate.decision, candidate.hash("decision"), path


class ShadowDecisionService(RiskFeeds):
    name = SERVICE

    def __init__(self, runtime: Runtime, *, engine: DecisionEngine, store: TradingStateStore,
                 candidate: Path) -> None:
        super().__init__(runtime)
        self.engine = engine
        self.risk = engine.state
        self.store = store  # read only: the live engine owns it
        self.candidate = candidate
        self.live_seen: set[str] = set()
        # obeys what the live engine obeys, in memory only: the live engine owns the file
        self.follower = TradingStateFollower(store, self.risk.trading,
                                             names=("decision-engine", runtime.name),
                                             on_change=self.set_trading)

    @classmethod
    def create(cls, runtime: Runtime, *, engine: DecisionEngine | None = None,
               store: TradingStateStore | None = None) -> ShadowDecisionService:
        cfg, config_hash, path = load_candidate(runtime.config)
        store = store or TradingStateStore(runtime.state.trading_state)
        engine = engine or DecisionEngine(cfg, config_hash, RiskState(trading=store.load()))
        return cls(runtime, engine=engine, store=store, candidate=path)

    async def setup(self) -> None:
        audit = open_reader(self.state)
        live_decisions = list(audit.records("decisions"))
        self.live_seen = {r["event_id"] for r in live_decisions
                          if isinstance(r.get("event_id"), str)}
        # rebuild() returns the signals *live* decided: not ours, so its result is not remembered
        self.risk.rebuild(live_decisions, audit.records("orders"), audit.records("closes"))
        self.engine.remember([r["causation_id"] for r in audit.records("shadow_decisions")
                              if isinstance(r.get("causation_id"), str)])
        for w in audit.warnings:
            self.log.warning("audit log line skipped during shadow rebuild", error=w)
        self.log.info("shadow engine ready", candidate=str(self.candidate),
                      config_hash=self.engine.config_hash,
                      live_open_positions=len(self.risk.positions), trading_state=self.risk.trading)

    @subscribe("SIGNAL", verify_id=True)
    async def on_signal(self, env: Envelope) -> None:
        if self.engine.already_decided(env.event_id):
            self.metrics["duplicate_signals"] += 1
            return
        await self.prices_for(env.payload.get("symbol"))
        payload = self.engine.decide(env, self.clock.time(), self.market_clock.now())
        out = await self.publish("SHADOW_DECISION", payload, parent=env)
        self.engine.remember([env.event_id])  # not commit(): a shadow BUY never opens a position
        self.risk.note_published(out.epoch, out.seq, self.clock.time())
        self.metrics[f"shadow_{payload['action'].lower()}"] += 1

    @subscribe("DECISION", verify_id=True)
    def on_live_decision(self, env: Envelope) -> None:
        if env.event_id in self.live_seen:
            return
        self.live_seen.add(env.event_id)
        apply_buy(self.risk, env.event_id, env.payload)  # a live BUY takes a slot in the mirror

    @subscribe("CONTROL", verify_id=True)
    async def on_control(self, env: Envelope) -> None:
        await self.follower.on_control(env)

    @every(lambda self: self.engine.cfg.state_reload_s)
    async def reload_state(self) -> None:
        await self.follower.reload()

    def set_trading(self, old: str, new: str, why: str) -> None:
        self.log.info("shadow trading state", old=old, new=new, by=why)
        self.risk.trading = new

    def heartbeat(self) -> dict[str, Any]:
        return {"shadow_config_hash": self.engine.config_hash, "trading_state": self.risk.trading,
                "live_open_positions": len(self.risk.positions),
                "audit_lag_s": self.risk.audit_lag(self.clock.time())}
