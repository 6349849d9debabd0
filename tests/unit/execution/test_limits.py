"""The executor's own limits: pure checks of a BUY against config, and the executor's refusal."""

from __future__ import annotations

import pytest

from hope.clock import ManualClock, MarketClock
from hope.decision.config import DecisionConfig
from hope.envelope import new_event
from hope.execution.breaker import CircuitBreaker
from hope.execution.config import ExecutionConfig
from hope.execution.exchange import PaperExchange
from hope.execution.executor import Executor
from hope.execution.limits import Held, Limits, check, check_targets
from hope.execution.positions import ExecutorStore
from tests.helpers import ExecutorRecorder

T0 = 1610226000.0
TARGETS = {"take_profit_pct": 5.0, "stop_loss_pct": 3.0, "timeout_s": 900.0}


def buy(**over):
    p = {"symbol": "EVXBTC", "action": "BUY", "position_size": 0.001, "price": 1e-5,
         "targets": dict(TARGETS), "market_ts": T0, "quote": "BTC"}
    p.update(over)
    return p


def limits(**execution):
    return Limits.from_config(ExecutionConfig(**execution), DecisionConfig())


def test_defaults_come_from_decision_and_a_genuine_buy_passes():
    """Empty [execution] limits take [decision]'s; the engine's own BUY shape passes them."""
    lim = limits()
    d = DecisionConfig()
    assert lim.max_position_size == d.position_size
    assert lim.max_open_positions == d.max_open_positions
    assert lim.max_total_exposure["BTC"] == pytest.approx(0.003)
    assert check(lim, buy(), []) is None


def test_engine_targets_pass_for_every_genuine_decision():
    """Targets exactly as DecisionEngine.targets() writes them are sane."""
    from hope.decision.engine import DecisionEngine
    targets = DecisionEngine(DecisionConfig(), "cfg").targets(1e-5)
    assert check(limits(), buy(targets=targets), []) is None


@pytest.mark.parametrize("over, limit", [
    ({"position_size": 1000.0}, "max_position_size"),
    ({"position_size": 0.0}, "max_position_size"),
    ({"position_size": "1"}, "max_position_size"),
    ({"symbol": "EVXXYZ"}, "max_position_size"),
    ({"symbol": "evx\x1bBTC"}, "allowed_symbols"),
    ({"targets": {}}, "targets"),
    ({"targets": None}, "targets"),
    ({"targets": {**TARGETS, "timeout_s": 0}}, "targets"),
    ({"targets": {**TARGETS, "timeout_s": -5}}, "targets"),
    ({"targets": {**TARGETS, "stop_loss_pct": 150.0}}, "targets"),
    ({"targets": {**TARGETS, "take_profit_pct": -1.0}}, "targets"),
    ({"targets": {"take_profit": 0.9e-5, "stop_loss": 0.8e-5, "timeout_s": 60}}, "targets"),
    ({"targets": {"take_profit": 2e-5, "stop_loss": 1.1e-5, "timeout_s": 60}}, "targets"),
    ({"targets": {"take_profit": 2e-5, "stop_loss": 0.5e-5, "timeout_s": 60}, "price": 0},
     "targets"),
])
def test_each_broken_limit_is_named(over, limit):
    """A BUY breaking one limit is refused naming that limit's config key."""
    refusal = check(limits(), buy(**over), [])
    assert refusal is not None and refusal.limit == limit
    assert refusal.reason.startswith(f"limit {limit}: ")


def test_price_level_targets_around_the_entry_pass():
    """Absolute take-profit above and stop-loss below the decision's price are accepted."""
    assert check_targets(buy(targets={"take_profit": 2e-5, "stop_loss": 0.5e-5,
                                      "timeout_s": 60})) is None


def test_open_positions_and_exposure_count_what_is_held():
    """Open positions, exposure per symbol and per quote are judged with what is held."""
    lim = limits()
    three = [Held(f"S{i}BTC", "BTC", 0.001) for i in range(3)]
    assert check(lim, buy(), three).limit == "max_open_positions"
    assert check(lim, buy(), [Held("EVXBTC", "BTC", 0.001)]).limit == "max_symbol_exposure"
    roomy = limits(max_open_positions=10, max_total_exposure={"BTC": 0.0035})
    assert check(roomy, buy(), three).limit == "max_total_exposure"
    assert check(roomy, buy(), [Held("AAAETH", "ETH", 0.02)] * 3) is None


def test_allowed_symbols_and_blacklist():
    """A configured allow-list refuses every other symbol; [decision] blacklist is honoured."""
    assert check(limits(allowed_symbols=["GVTBTC"]), buy(), []).limit == "allowed_symbols"
    lim = Limits.from_config(ExecutionConfig(), DecisionConfig(blacklist=["EVXBTC"]))
    assert check(lim, buy(), []).limit == "allowed_symbols"


@pytest.mark.parametrize("bad", [
    {"max_position_size": {"BTC": 0}}, {"max_total_exposure": {"BTC": True}},
    {"max_open_positions": -1}, {"allowed_symbols": ["evx/btc"]},
])
def test_bad_limit_config_is_refused_naming_the_key(bad):
    """Bad [execution] limits refuse validation naming the key."""
    key = next(iter(bad))
    with pytest.raises(ValueError, match=key):
        ExecutionConfig(**bad).validate()


def _executor(tmp_path):
    exchange = PaperExchange(tmp_path / "exchange", slippage_bps=0, commission_bps=10)
    ex = Executor(ExecutionConfig(), exchange, ExecutorStore(tmp_path / "positions"),
                  CircuitBreaker("exchange", clock=ManualClock()), market_clock=MarketClock())
    ex.on_price("EVXBTC", 1e-5, T0)
    return ex


def _decision(**over):
    payload = {**buy(**over), "strategy": "pump", "confidence": 0.9, "reasons": [],
               "config_hash": "forged"}
    return new_event("DECISION", payload, source="decision-engine")


async def test_forged_1000_btc_buy_is_rejected_alerted_counted_never_placed(tmp_path):
    """The 1000 BTC DECISION: ORDER REJECTED naming the limit, an ALERT, counted, no order."""
    ex, pub = _executor(tmp_path), ExecutorRecorder()
    await ex.handle_decision(_decision(position_size=1000.0), pub)
    order, alert = pub.events
    assert order.event_type == "ORDER" and order.payload["status"] == "REJECTED"
    assert order.payload["reason"].startswith("limit max_position_size: 1000 BTC > 0.001 BTC")
    assert alert.event_type == "ALERT" and alert.payload["limit"] == "max_position_size"
    assert alert.causation_id == order.causation_id
    assert ex.exchange.orders() == [] and ex.store.positions == {}
    assert ex.refusals["max_position_size"] == 1 and ex.stats["limit_refusals"] == 1


async def test_empty_targets_are_refused_before_the_exchange(tmp_path):
    """targets {} never places an order (it used to place one and then raise KeyError)."""
    ex, pub = _executor(tmp_path), ExecutorRecorder()
    await ex.handle_decision(_decision(targets={}), pub)
    assert pub.events[0].payload["status"] == "REJECTED"
    assert "targets" in pub.events[0].payload["reason"]
    assert ex.exchange.orders() == []


async def test_limit_refusal_is_durable_and_not_republished_differently(tmp_path):
    """A redelivered refused DECISION is a duplicate: no second ORDER, no order placed."""
    ex, pub = _executor(tmp_path), ExecutorRecorder()
    d = _decision(position_size=5.0)
    await ex.handle_decision(d, pub)
    await ex.handle_decision(d, pub)
    assert len([e for e in pub.events if e.event_type == "ORDER"]) == 1
    assert ex.stats["duplicate_decisions"] == 1 and ex.exchange.orders() == []
