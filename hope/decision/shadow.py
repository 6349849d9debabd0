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
from hope.decision.service import subscribe_risk_feeds
from hope.envelope import Envelope
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


async def setup_shadow(svc: Any) -> None:
    cfg, config_hash, path = load_candidate(svc.config)
    store = TradingStateStore(svc.state.trading_state)  # read only: the live engine owns it
    state = RiskState(trading=store.load())
    engine = DecisionEngine(cfg, config_hash, state)
    audit = open_reader(svc.state)
    live_decisions = list(audit.records("decisions"))
    live_seen = {r["event_id"] for r in live_decisions if isinstance(r.get("event_id"), str)}
    # rebuild() returns the signals *live* decided: not ours, so its result is not remembered
    state.rebuild(live_decisions, audit.records("orders"), audit.records("closes"))
    engine.remember([r["causation_id"] for r in audit.records("shadow_decisions")
                     if isinstance(r.get("causation_id"), str)])
    for w in audit.warnings:
        svc.log.warning("audit log line skipped during shadow rebuild", error=w)
    svc.log.info("shadow engine ready", candidate=str(path), config_hash=config_hash,
                 live_open_positions=len(state.positions), trading_state=state.trading)

    async def on_signal(env: Envelope) -> None:
        if engine.already_decided(env.event_id):
            svc.metrics["duplicate_signals"] += 1
            return
        payload = engine.decide(env, svc.clock.time(), svc.market_clock.now())
        out = await svc.publish("SHADOW_DECISION", payload, parent=env)
        engine.remember([env.event_id])  # not commit(): a shadow BUY never opens a position
        state.note_published(out.epoch, out.seq, svc.clock.time())
        svc.metrics[f"shadow_{payload['action'].lower()}"] += 1

    def on_live_decision(env: Envelope) -> None:
        if env.event_id in live_seen:
            return
        live_seen.add(env.event_id)
        apply_buy(state, env.event_id, env.payload)  # a live BUY takes a slot in the mirror

    def set_trading(old: str, new: str, why: str) -> None:
        svc.log.info("shadow trading state", old=old, new=new, by=why)
        state.trading = new

    # obeys what the live engine obeys, in memory only: the live engine owns the file
    follower = TradingStateFollower(store, state.trading, names=("decision-engine", svc.name),
                                    on_change=set_trading)
    svc.subscribe("SIGNAL", on_signal, verify_id=True)
    svc.subscribe("DECISION", on_live_decision, verify_id=True)
    subscribe_risk_feeds(svc, state)
    svc.subscribe("CONTROL", follower.on_control, name="on_control", verify_id=True)
    svc.every(cfg.state_reload_s, follower.reload)
    svc.heartbeat_extras.append(lambda: {
        "shadow_config_hash": config_hash, "trading_state": state.trading,
        "live_open_positions": len(state.positions),
        "audit_lag_s": state.audit_lag(svc.clock.time())})
