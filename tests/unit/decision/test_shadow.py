"""decision-engine-shadow on the in-process bus: SHADOW_DECISION per SIGNAL, live book, read-only."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from hope.bus.memory import LocalBroker
from hope.cli import main as hope_main
from hope.config import ConfigError
from hope.decision.shadow import ShadowDecisionService, candidate_path
from hope.envelope import new_event
from hope.testing import drain, make_config, runtime_for_tests, service_for_tests
from hope.trading.ids import client_order_id
from hope.trading.state import TradingStateStore

T0 = 1_610_226_000.0
CANDIDATE = "[decision]\nmax_open_positions = 1\nmin_delta_pct = 8.0\n"


def signal(symbol: str = "EVXBTC", delta: float = 10.0, market_ts: float = T0):
    return new_event("SIGNAL", {"symbol": symbol, "strategy": "pump", "price": 1e-5,
                                "market_ts": market_ts, "buys_per_sec": 5.0, "delta_pct": delta,
                                "window_s": 2.0}, source="scanner")


def live_buy(symbol: str = "GVTBTC"):
    return new_event("DECISION", {"symbol": symbol, "action": "BUY", "confidence": 0.9,
                                  "reasons": [], "position_size": 0.001, "quote": "BTC",
                                  "targets": {}, "config_hash": "cfg:live", "market_ts": T0},
                     source="decision-engine")


async def rig(tmp_path: Path, candidate: str = CANDIDATE, trading: str | None = "ACTIVE",
              records: dict[str, list[dict]] | None = None):
    """A feeder and a shadow on one broker; the state file and audit records are laid first."""
    cand = tmp_path / "cand.toml"
    cand.write_text(candidate)
    state = tmp_path / "st"
    (state / "events").mkdir(parents=True)
    for family, recs in (records or {}).items():
        (state / "events" / f"{family}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in recs))
    if trading:
        TradingStateStore(state / "trading_state").save(trading, changed_by="test")
    broker = LocalBroker()
    shadow = await service_for_tests(ShadowDecisionService, state, broker,
                                     {"shadow": {"config": str(cand)}})
    assert shadow.state.trading_state == state / "trading_state"
    feeder = runtime_for_tests("scanner", tmp_path / "feed", broker)
    for rt in (shadow.runtime, feeder):
        await rt.bus.start()
    await feeder.publish("WATERMARK", {"watermarks": {}})
    for sym in ("EVXBTC", "GVTBTC", "NASBTC"):
        await feeder.publish("PRICE", {"symbol": sym, "price": 1e-5, "market_ts": T0})
    await drain(shadow, feeder)
    return broker, shadow, feeder


def of_type(broker: LocalBroker, event_type: str):
    return [e for e in broker.published if e.event_type == event_type]


async def test_each_signal_gets_one_shadow_decision_with_the_candidate_hash(tmp_path):
    """A SIGNAL (also redelivered) gets exactly one SHADOW_DECISION and no DECISION."""
    broker, shadow, feeder = await rig(tmp_path)
    s = await feeder.publish_event(signal())
    await drain(shadow, feeder)
    await feeder.publish_event(s)  # redelivery of the same event
    await drain(shadow, feeder)
    (d,) = of_type(broker, "SHADOW_DECISION")
    assert not of_type(broker, "DECISION")
    assert d.causation_id == s.event_id and d.correlation_id == s.correlation_id
    assert d.payload["action"] == "BUY", d.payload["reasons"]
    assert d.payload["config_hash"] != shadow.config.hash("decision")  # the candidate's rules


async def test_candidate_rules_decide_not_the_live_ones(tmp_path):
    """A delta the live defaults (5 %) accept is a SKIP under the candidate's 8 %."""
    broker, shadow, feeder = await rig(tmp_path)
    await feeder.publish_event(signal(delta=6.0))
    await drain(shadow, feeder)
    (d,) = of_type(broker, "SHADOW_DECISION")
    assert d.payload["action"] == "SKIP"
    assert "min_delta_pct" in {r["rule"] for r in d.payload["reasons"]}


async def test_shadow_buys_take_no_slot_but_live_buys_do(tmp_path):
    """Its own BUYs open nothing; a live BUY fills the one slot until its CLOSE frees it."""
    broker, shadow, feeder = await rig(tmp_path)
    await feeder.publish_event(signal("EVXBTC"))
    await drain(shadow, feeder)
    await feeder.publish_event(signal("NASBTC"))  # max_open_positions 1: still free
    await drain(shadow, feeder)
    live = await feeder.publish_event(live_buy("GVTBTC"))
    await drain(shadow, feeder)
    await feeder.publish_event(signal("EVXBTC", market_ts=T0 + 1))
    await drain(shadow, feeder)
    await feeder.publish("CLOSE", {"symbol": "GVTBTC", "order_id": client_order_id(live.event_id),
                                   "entry_price": 1e-5, "exit_price": 1.1e-5, "quantity": 100.0,
                                   "pnl": 1e-5, "fees": 1e-7, "reason": "take_profit",
                                   "holding_s": 1.0, "quote": "BTC", "market_ts": T0 + 1})
    await drain(shadow, feeder)
    await feeder.publish_event(signal("NASBTC", market_ts=T0 + 2))
    await drain(shadow, feeder)
    actions = [d.payload["action"] for d in of_type(broker, "SHADOW_DECISION")]
    assert actions == ["BUY", "BUY", "SKIP", "BUY"]
    rules = {r["rule"] for r in of_type(broker, "SHADOW_DECISION")[2].payload["reasons"]}
    assert "max_open_positions" in rules


async def test_restart_rebuilds_decided_set_and_live_book_from_the_audit_log(tmp_path):
    """A signal in shadow_decisions gets no second decision; an audited live BUY holds a slot."""
    done, fresh = signal("EVXBTC"), signal("NASBTC")
    buy = live_buy("GVTBTC")
    records = {
        "shadow_decisions": [{"event_id": "sha256:0000000000000001",
                              "causation_id": done.event_id, "payload": {"action": "SKIP"}}],
        "decisions": [{"event_id": buy.event_id, "causation_id": "sha256:x",
                       "payload": buy.payload}],
    }
    broker, shadow, feeder = await rig(tmp_path, records=records)
    await feeder.publish_event(done)
    await feeder.publish_event(fresh)
    await drain(shadow, feeder)
    (d,) = of_type(broker, "SHADOW_DECISION")
    assert d.causation_id == fresh.event_id and d.payload["action"] == "SKIP"
    assert "max_open_positions" in {r["rule"] for r in d.payload["reasons"]}


async def test_control_is_obeyed_in_memory_and_the_state_file_never_written(tmp_path):
    """CONTROL halt makes shadow SKIPs; the live engine's trading_state file stays untouched."""
    broker, shadow, feeder = await rig(tmp_path)
    path = shadow.state.trading_state
    before = path.read_bytes()
    await feeder.publish("CONTROL", {"service": "*", "command": "halt"})
    await feeder.publish_event(signal())
    await drain(shadow, feeder)
    (d,) = of_type(broker, "SHADOW_DECISION")
    assert d.payload["action"] == "SKIP"
    assert "trading_state" in {r["rule"] for r in d.payload["reasons"]}
    assert path.read_bytes() == before and not of_type(broker, "TRADING_STATE")


async def test_missing_state_file_reads_halted_and_is_not_created(tmp_path):
    """No trading_state file: the shadow SKIPs (fail-closed) and does not create one."""
    broker, shadow, feeder = await rig(tmp_path, trading=None)
    await feeder.publish_event(signal())
    await drain(shadow, feeder)
    (d,) = of_type(broker, "SHADOW_DECISION")
    assert d.payload["action"] == "SKIP" and not shadow.state.trading_state.exists()


async def test_missing_candidate_refuses_to_start_naming_the_file(tmp_path):
    """A [shadow] config that names no file raises ConfigError with the path."""
    with pytest.raises(ConfigError, match="nope.toml"):
        await service_for_tests(ShadowDecisionService, tmp_path / "st", LocalBroker(),
                                {"shadow": {"config": str(tmp_path / "nope.toml")}})


async def test_bad_candidate_key_is_named(tmp_path):
    """An unknown key in the candidate's [decision] fails naming the candidate file and key."""
    with pytest.raises(ConfigError, match=r"cand\.toml.*max_open"):
        await rig(tmp_path, candidate="[decision]\nmax_open = 1\n")


def test_relative_candidate_resolves_against_the_main_config_dir(tmp_path):
    """``[shadow] config = "x.toml"`` means x.toml beside the main config file."""
    main = tmp_path / "conf" / "hope.toml"
    main.parent.mkdir()
    main.write_text('[shadow]\nconfig = "x.toml"\n')
    config = make_config(tmp_path / "st", config_path=str(main))
    assert candidate_path(config) == main.parent / "x.toml"


def test_report_shadow_lists_flips(tmp_path):
    """``hope report --shadow`` pairs live and shadow decisions by signal and shows the flip."""
    events = tmp_path / "events"
    events.mkdir()

    def rec(eid, cause, action, cfg):
        return json.dumps({"event_id": eid, "causation_id": cause, "correlation_id": cause,
                           "timestamp": "2026-01-01T00:00:00.000000Z",
                           "payload": {"symbol": "EVXBTC", "action": action, "config_hash": cfg,
                                       "reasons": [] if action == "BUY" else
                                       [{"rule": "max_open_positions", "detail": "1 open"}]}})
    (events / "decisions.jsonl").write_text(
        rec("d1", "s1", "BUY", "cfg:live") + "\n" + rec("d2", "s2", "SKIP", "cfg:live") + "\n")
    (events / "shadow_decisions.jsonl").write_text(
        rec("x1", "s1", "SKIP", "cfg:cand") + "\n" + rec("x2", "s2", "SKIP", "cfg:cand") + "\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert hope_main(["report", "--shadow", "--state-dir", str(tmp_path)]) == 0
    text = out.getvalue()
    assert "paired 2: agree 1" in text and "live BUY → shadow SKIP" in text
    assert "max_open_positions" in text
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert hope_main(["report", "--shadow", "--json", "--state-dir", str(tmp_path)]) == 0
    assert json.loads(out.getvalue())["flip_count"] == 1
