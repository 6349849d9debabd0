"""Executor: one decision → exactly one ORDER, across retries, timeouts and crashes; exits."""

from __future__ import annotations

import pytest

from hope.bus.base import BusError
from hope.clock import ManualClock, MarketClock
from hope.envelope import new_event
from hope.execution.breaker import CircuitBreaker
from hope.execution.config import ExecutionConfig
from hope.execution.exchange import PaperExchange
from hope.execution.executor import Executor
from hope.execution.positions import ExecutorStore
from hope.trading.ids import client_order_id
from tests.helpers import Crash, ExecutorRecorder

T0 = 1_610_226_000.0
SYM = "EVXBTC"


# the executor's own limits allow one 0.001 BTC position per symbol (as [decision] does)
TWO_IN_ONE_SYMBOL = {"max_symbol_exposure": {"BTC": 0.002}}


def make(tmp_path, **cfg):
    exchange = PaperExchange(tmp_path / "exchange", slippage_bps=0, commission_bps=10)
    store = ExecutorStore(tmp_path / "positions")
    clock = ManualClock()
    breaker = CircuitBreaker("exchange", failure_threshold=2, reset_timeout_s=30, clock=clock)
    ex = Executor(ExecutionConfig(**cfg), exchange, store, breaker, market_clock=MarketClock())
    tick(ex, SYM, 1e-5, T0)
    return ex


def tick(ex, symbol, price, market_ts):
    """A PRICE as the service delivers it: the market-clock middleware moves the clock first."""
    ex.market_clock.observe(market_ts)
    ex.on_price(symbol, price, market_ts)


def decision(action="BUY", market_ts=T0, symbol=SYM):
    signal = new_event("SIGNAL", {"symbol": symbol, "strategy": "pump", "price": 1e-5,
                                  "market_ts": market_ts}, source="scanner")
    payload = {"symbol": symbol, "strategy": "pump", "action": action, "confidence": 0.7,
               "reasons": [], "position_size": 0.001 if action == "BUY" else 0.0,
               "targets": {"take_profit_pct": 5.0, "stop_loss_pct": 3.0, "timeout_s": 600.0},
               "config_hash": "cfg:t", "market_ts": market_ts, "quote": "BTC"}
    return new_event("DECISION", payload, source="decision-engine", parent=signal)


async def test_buy_becomes_order_fill_position_with_parent_chain(tmp_path):
    """BUY → ORDER NEW → FILL → position; correlation flows and each causation is its parent."""
    ex, pub, d = make(tmp_path), ExecutorRecorder(), decision()
    await ex.handle_decision(d, pub)
    order, fill = pub.events
    assert order.event_type == "ORDER" and order.payload["status"] == "NEW"
    assert order.payload["order_id"] == client_order_id(d.event_id)
    assert order.causation_id == d.event_id and fill.causation_id == order.event_id
    assert order.correlation_id == fill.correlation_id == d.correlation_id
    assert fill.payload["commission_asset"] == "BTC" and fill.payload["avg_price"] == 1e-5
    assert len(ex.store.positions) == 1


async def test_skip_makes_no_order(tmp_path):
    """A SKIP decision publishes nothing and touches no exchange."""
    ex, pub = make(tmp_path), ExecutorRecorder()
    await ex.handle_decision(decision("SKIP"), pub)
    assert pub.events == [] and ex.exchange.orders() == []


async def test_redelivered_decision_makes_one_order(tmp_path):
    """The same DECISION twice (redelivery, retry) gives one exchange order and one ORDER."""
    ex, pub, d = make(tmp_path), ExecutorRecorder(), decision()
    await ex.handle_decision(d, pub)
    await ex.handle_decision(d, pub)
    assert len(ex.exchange.orders()) == 1 and len(pub.of("ORDER")) == 1
    assert ex.stats["duplicate_decisions"] == 1


async def test_crash_between_place_and_persist(tmp_path):
    """Crash after the venue booked the order, before the ledger knew: restart, one order."""
    ex, d = make(tmp_path), decision()
    real_place = ex.exchange.place_order

    def place_then_die(*a, **kw):
        real_place(*a, **kw)
        raise Crash("after place")

    ex.exchange.place_order = place_then_die
    with pytest.raises(Crash):
        await ex.handle_decision(d, ExecutorRecorder())
    restarted, pub = make(tmp_path, **TWO_IN_ONE_SYMBOL), ExecutorRecorder()
    calls = []
    orig = restarted.exchange.place_order
    restarted.exchange.place_order = lambda *a, **kw: calls.append(a) or orig(*a, **kw)
    await restarted.handle_decision(d, pub)  # the redelivered decision
    assert calls == []  # asked get_order first, never placed again
    assert len(restarted.exchange.orders()) == 1
    assert [e.payload["status"] for e in pub.of("ORDER")] == ["NEW"] and len(pub.of("FILL")) == 1


async def test_crash_before_redelivery_is_finished_by_reconcile(tmp_path):
    """After the same crash, reconcile on start finishes the order without any redelivery."""
    ex, d = make(tmp_path), decision()
    real_place = ex.exchange.place_order
    ex.exchange.place_order = lambda *a, **kw: (real_place(*a, **kw), (_ for _ in ()).throw(
        Crash("after place")))
    with pytest.raises(Crash):
        await ex.handle_decision(d, ExecutorRecorder())
    restarted, pub = make(tmp_path, **TWO_IN_ONE_SYMBOL), ExecutorRecorder()
    report = await restarted.reconcile(pub)
    assert report["resumed"] == 1 and report["orphans"] == []
    assert len(pub.of("ORDER")) == 1 and len(pub.of("FILL")) == 1
    assert len(restarted.store.positions) == 1


async def test_crash_after_publishing_order_republishes_same_event(tmp_path):
    """Crash after ORDER was sent but before it was recorded: the resend has the same event_id."""
    ex, d = make(tmp_path), decision()
    first = ExecutorRecorder(crash_on=lambda e: e.event_type == "ORDER")
    with pytest.raises(Crash):
        await ex.handle_decision(d, first)
    restarted, pub = make(tmp_path), ExecutorRecorder()
    await restarted.handle_decision(d, pub)
    assert pub.of("ORDER")[0].event_id == first.of("ORDER")[0].event_id
    assert len(restarted.exchange.orders()) == 1


async def test_lost_reply_timeout_asks_before_retrying(tmp_path):
    """The venue booked the order but the reply timed out: the executor asks and goes on NEW."""
    ex, pub = make(tmp_path), ExecutorRecorder()
    ex.exchange.timeout_after_place_next()
    await ex.handle_decision(decision(), pub)
    assert [e.payload["status"] for e in pub.of("ORDER")] == ["NEW"]
    assert len(ex.exchange.orders()) == 1 and len(pub.of("FILL")) == 1


async def test_timeout_without_order_is_rejected(tmp_path):
    """A timeout before booking, confirmed absent by get_order, gives ORDER REJECTED."""
    ex, pub = make(tmp_path), ExecutorRecorder()
    ex.exchange.timeout_next()
    await ex.handle_decision(decision(), pub)
    (order,) = pub.of("ORDER")
    assert order.payload["status"] == "REJECTED" and "timeout" in order.payload["reason"]
    assert pub.of("FILL") == []


async def test_failures_open_breaker_then_reject_fast(tmp_path):
    """Exchange errors are REJECTED with reason; after N the breaker opens and rejects fast."""
    ex, pub = make(tmp_path), ExecutorRecorder()
    ex.exchange.fail_next(2)
    await ex.handle_decision(decision(market_ts=T0), pub)
    await ex.handle_decision(decision(market_ts=T0 - 1), pub)
    assert ex.breaker.state == "open"
    calls = []
    ex.exchange.place_order = lambda *a, **kw: calls.append(a)
    await ex.handle_decision(decision(market_ts=T0 - 2), pub)
    reasons = [e.payload["reason"] for e in pub.of("ORDER")]
    assert [e.payload["status"] for e in pub.of("ORDER")] == ["REJECTED"] * 3
    assert "injected failure" in reasons[0] and reasons[2].startswith("circuit_open")
    assert calls == []


async def test_late_buy_expires_on_market_clock(tmp_path):
    """A BUY older than max_order_delay_s on the market clock gives ORDER EXPIRED, no order."""
    ex, pub = make(tmp_path, max_order_delay_s=30), ExecutorRecorder()
    tick(ex, SYM, 1e-5, T0 + 31)
    await ex.handle_decision(decision(market_ts=T0), pub)
    (order,) = pub.of("ORDER")
    assert order.payload["status"] == "EXPIRED" and ex.exchange.orders() == []


@pytest.mark.parametrize("state", ["HALTED", "REDUCING"])
async def test_not_active_rejects_buys(tmp_path, state):
    """HALTED or REDUCING: a BUY gets ORDER REJECTED naming the trading state."""
    ex, pub = make(tmp_path), ExecutorRecorder()
    ex.trading_state = state
    await ex.handle_decision(decision(), pub)
    assert pub.of("ORDER")[0].payload["reason"] == f"trading_state {state}"


async def _open(tmp_path, **cfg):
    ex, pub = make(tmp_path, **cfg), ExecutorRecorder()
    await ex.handle_decision(decision(), pub)
    return ex, pub


async def test_take_profit_close(tmp_path):
    """Price at take-profit closes with reason take_profit, pnl > 0, fees, market holding time."""
    ex, pub = await _open(tmp_path)
    tick(ex, SYM, 1.06e-5, T0 + 42)
    assert await ex.check_exits(pub) == 1
    (close,) = pub.of("CLOSE")
    p = close.payload
    assert p["reason"] == "take_profit" and p["pnl"] > 0 and p["holding_s"] == 42.0
    assert p["fees"] == pytest.approx(0.001 * 0.001 + 0.00106 * 0.001)
    assert close.causation_id == pub.of("FILL")[0].event_id
    assert close.correlation_id == pub.of("ORDER")[0].correlation_id
    assert ex.store.positions == {} and ExecutorStore(tmp_path / "positions").positions == {}


async def test_stop_loss_close(tmp_path):
    """Price at stop-loss closes with reason stop_loss and a negative pnl."""
    ex, pub = await _open(tmp_path)
    tick(ex, SYM, 0.96e-5, T0 + 5)
    await ex.check_exits(pub)
    assert pub.of("CLOSE")[0].payload["reason"] == "stop_loss"
    assert pub.of("CLOSE")[0].payload["pnl"] < 0


async def test_timeout_close_on_market_clock(tmp_path):
    """Another symbol's PRICE moving the market clock past timeout_s closes by timeout."""
    ex, pub = await _open(tmp_path)
    tick(ex, "GVTBTC", 2e-5, T0 + 599)
    assert await ex.check_exits(pub) == 0
    tick(ex, "GVTBTC", 2e-5, T0 + 600)
    await ex.check_exits(pub)
    assert pub.of("CLOSE")[0].payload["reason"] == "timeout"


async def test_halted_stops_exits_but_flatten_closes(tmp_path):
    """HALTED freezes automatic exits; flatten still closes everything with reason flatten."""
    ex, pub = await _open(tmp_path)
    ex.trading_state = "HALTED"
    tick(ex, SYM, 2e-5, T0 + 5)
    assert await ex.check_exits(pub) == 0
    assert await ex.flatten(pub) == 1
    assert pub.of("CLOSE")[0].payload["reason"] == "flatten" and ex.store.positions == {}


async def test_failed_close_retries_with_same_reason(tmp_path):
    """A close the venue refuses keeps the position; the next price closes it, same reason."""
    ex, pub = await _open(tmp_path)
    ex.exchange.fail_next()
    tick(ex, SYM, 1.06e-5, T0 + 5)
    assert await ex.check_exits(pub) == 0 and len(ex.store.positions) == 1
    tick(ex, SYM, 1.0e-5, T0 + 6)  # back below take-profit, but the close had begun
    assert await ex.check_exits(pub) == 1
    assert pub.of("CLOSE")[0].payload["reason"] == "take_profit"
    assert len([o for o in ex.exchange.orders() if o.side == "SELL"]) == 1


async def test_reconcile_drops_positions_unknown_to_exchange(tmp_path):
    """A persisted position whose order the venue does not know is dropped on start."""
    ex, _ = await _open(tmp_path)
    (tmp_path / "exchange" / "orders.jsonl").unlink()
    restarted = make(tmp_path)
    report = await restarted.reconcile(ExecutorRecorder())
    assert len(report["dropped"]) == 1 and restarted.store.positions == {}


_CHILD = r"""
import asyncio, json, os, signal, sys
from pathlib import Path
from hope.clock import ManualClock, MarketClock
from hope.envelope import Envelope, new_event
from hope.execution.breaker import CircuitBreaker
from hope.execution.config import ExecutionConfig
from hope.execution.exchange import PaperExchange
from hope.execution.executor import Executor
from hope.execution.positions import ExecutorStore

root, point = Path(sys.argv[1]), sys.argv[2]
d = Envelope(**json.loads(sys.argv[3]))
exchange = PaperExchange(root / "exchange", slippage_bps=0, fsync_interval_s=60)
store = ExecutorStore(root / "positions", fsync_interval_s=60)  # never fsynced: page cache only
ex = Executor(ExecutionConfig(), exchange, store,
              CircuitBreaker("exchange", clock=ManualClock()), market_clock=MarketClock())
ex.market_clock.observe(float(sys.argv[4]))
ex.on_price("EVXBTC", 1e-5, float(sys.argv[4]))
real_place = exchange.place_order

def place_then_die(*a, **kw):
    real_place(*a, **kw)
    os.kill(os.getpid(), signal.SIGKILL)

if point == "place":
    exchange.place_order = place_then_die

async def pub(event_type, payload, parent, timestamp):
    return new_event(event_type, payload, source="executor", parent=parent, timestamp=timestamp)

asyncio.run(ex.handle_decision(d, pub))
os.kill(os.getpid(), signal.SIGKILL)  # "done": killed right after the fill was recorded
"""


@pytest.mark.integration
@pytest.mark.parametrize("point", ["place", "done"])
async def test_sigkill_then_restart_yields_exactly_one_order(tmp_path, point):
    """A real SIGKILL after placing (or after recording the fill), no fsync: one order, position kept."""
    import json
    import subprocess
    import sys

    d = decision()
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path), point,
                           json.dumps(d.to_dict()), str(T0)], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    restarted, pub = make(tmp_path), ExecutorRecorder()
    calls = []
    orig = restarted.exchange.place_order
    restarted.exchange.place_order = lambda *a, **kw: calls.append(a) or orig(*a, **kw)
    report = await restarted.reconcile(pub)
    await restarted.handle_decision(d, pub)  # and the redelivered decision
    assert calls == [] and len(restarted.exchange.orders()) == 1
    assert report["orphans"] == [] and len(restarted.store.positions) == 1
    expected = 1 if point == "place" else 0  # after "done" nothing is left to publish
    assert len(pub.of("ORDER")) == expected and len(pub.of("FILL")) == expected


async def test_restart_after_crash_with_compaction_and_torn_tail_one_order(tmp_path):
    """Crash between place and persist, with a torn journal tail and tiny compactions: one order."""
    ex, d = make(tmp_path, **TWO_IN_ONE_SYMBOL), decision()
    ex.store.compact_every = 1
    await ex.handle_decision(decision(market_ts=T0 - 1), ExecutorRecorder())  # some history
    real_place = ex.exchange.place_order

    def place_then_die(*a, **kw):
        real_place(*a, **kw)
        with open(ex.store.journal_path(ex.store.gen), "ab") as fh:
            fh.write(b'[["o","x",{"do')  # the process died mid-write of the next line
        raise Crash("after place")

    ex.exchange.place_order = place_then_die
    with pytest.raises(Crash):
        await ex.handle_decision(d, ExecutorRecorder())
    restarted, pub = make(tmp_path, **TWO_IN_ONE_SYMBOL), ExecutorRecorder()
    assert restarted.store.load_error is None
    await restarted.reconcile(pub)
    await restarted.handle_decision(d, pub)
    assert len(restarted.exchange.orders()) == 2 and len(restarted.store.positions) == 2
    assert [e.payload["status"] for e in pub.of("ORDER")] == ["NEW"]


async def test_decision_redelivered_after_pruning_is_not_ordered_again(tmp_path):
    """A finished record pruned after the retention is not re-placed: the venue is asked first."""
    ex, pub, d = make(tmp_path, ledger_retention_s=60, **TWO_IN_ONE_SYMBOL), ExecutorRecorder(), decision()
    await ex.handle_decision(d, pub)
    tick(ex, SYM, 1e-5, T0 + 61)
    await ex.handle_decision(decision(market_ts=T0 + 61), pub)  # finishing this one prunes
    assert client_order_id(d.event_id) not in ex.store.orders
    ex.store.save()
    restarted, pub2 = make(tmp_path, ledger_retention_s=60, **TWO_IN_ONE_SYMBOL), ExecutorRecorder()
    tick(restarted, SYM, 1e-5, T0 + 61)
    report = await restarted.reconcile(pub2)
    await restarted.handle_decision(d, pub2)
    assert pub2.events == [] and restarted.stats["duplicate_decisions"] == 1
    assert report["orphans"] == [] and len(restarted.exchange.orders()) == 2
    assert len(restarted.store.positions) == 2


@pytest.mark.parametrize("failure", [BusError("outbox write failed"), OSError(28, "disk full")])
async def test_reconcile_publish_failure_fails_start_and_keeps_the_order(tmp_path, failure):
    """A bus or disk failure publishing during reconcile fails the start; the next one finishes."""
    ex, d = make(tmp_path), decision()
    real_place = ex.exchange.place_order
    ex.exchange.place_order = lambda *a, **kw: (real_place(*a, **kw), (_ for _ in ()).throw(
        Crash("after place")))
    with pytest.raises(Crash):
        await ex.handle_decision(d, ExecutorRecorder())

    async def failing_publish(event_type, payload, parent, timestamp):
        raise failure

    with pytest.raises(type(failure)):
        await make(tmp_path).reconcile(failing_publish)
    restarted, pub = make(tmp_path), ExecutorRecorder()
    report = await restarted.reconcile(pub)
    assert report["resumed"] == 1 and report["quarantined"] == []
    assert len(pub.of("FILL")) == 1 and len(restarted.store.positions) == 1


def test_on_price_leaves_the_market_clock_to_its_owner(tmp_path):
    """The executor takes a price for the venue but never moves the market clock itself."""
    ex = make(tmp_path)
    ex.on_price(SYM, 1e-5, T0 + 1e10)
    assert ex.market_clock.now() == T0
