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
from hope.decision.config import DecisionConfig
from hope.decision.engine import DecisionEngine
from hope.decision.risk import RiskState
from hope.decision.service import subscribe_risk_feeds
from hope.decision.trading_state import COMMAND_STATE, TradingStateStore
from hope.envelope import Envelope
from hope.execution.exchange import client_order_id

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


def _live_buy(state: RiskState, rec: dict[str, Any]) -> None:
    """A live BUY takes a slot in the mirrored book, exactly as the live engine's commit does."""
    p = rec.get("payload") or {}
    if p.get("action") == "BUY" and isinstance(p.get("market_ts"), int | float):
        state.record_buy(client_order_id(rec["event_id"]), str(p.get("symbol", "?")),
                         str(p.get("quote", "?")), float(p.get("position_size", 0.0)),
                         float(p["market_ts"]))


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
        _live_buy(state, {"event_id": env.event_id, "payload": env.payload})

    def set_trading(new: str, why: str) -> None:
        if new != state.trading:
            svc.log.info("shadow trading state", old=state.trading, new=new, by=why)
            state.trading = new

    def on_control(env: Envelope) -> None:
        p = env.payload
        new = COMMAND_STATE.get(str(p.get("command")))
        if new is not None and p.get("service") in ("*", "decision-engine", svc.name):
            set_trading(new, f"CONTROL {p.get('command')}")  # obeyed in memory, never persisted

    def reload_state() -> None:
        set_trading(store.load(), "state file")

    svc.subscribe("SIGNAL", on_signal, verify_id=True)
    svc.subscribe("DECISION", on_live_decision, verify_id=True)
    subscribe_risk_feeds(svc, state)
    svc.subscribe("CONTROL", on_control, verify_id=True)
    svc.every(cfg.state_reload_s, reload_state)
    svc.heartbeat_extras.append(lambda: {
        "shadow_config_hash": config_hash, "trading_state": state.trading,
        "live_open_positions": len(state.positions),
        "audit_lag_s": state.audit_lag(svc.clock.time())})
