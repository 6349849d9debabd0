"""The exit check per PRICE: only the positions that PRICE can close, the same exits as ever."""

from __future__ import annotations

import random

from hope.clock import ManualClock, MarketClock
from hope.envelope import new_event
from hope.execution.breaker import CircuitBreaker
from hope.execution.config import ExecutionConfig
from hope.execution.exchange import PaperExchange
from hope.execution.executor import Executor
from hope.execution.positions import ExecutorStore
from tests.helpers import ExecutorRecorder

T0 = 1_610_226_000.0
SYMBOLS = ("EVXBTC", "GVTBTC", "NASBTC", "ADXBTC")


def make(path):
    exchange = PaperExchange(path / "exchange", slippage_bps=0, commission_bps=10)
    breaker = CircuitBreaker("exchange", failure_threshold=1000, reset_timeout_s=30,
                             clock=ManualClock())
    return Executor(ExecutionConfig(), exchange, ExecutorStore(path / "positions"), breaker,
                    market_clock=MarketClock())


def tick(ex, symbol, price, market_ts):
    """A PRICE as the service delivers it: the market-clock middleware moves the clock first."""
    ex.market_clock.observe(market_ts)
    ex.on_price(symbol, price, market_ts)


def buy(symbol, market_ts, timeout_s=600.0):
    payload = {"symbol": symbol, "strategy": "pump", "action": "BUY", "confidence": 0.7,
               "reasons": [], "position_size": 0.001,
               "targets": {"take_profit_pct": 5.0, "stop_loss_pct": 3.0, "timeout_s": timeout_s},
               "config_hash": "cfg:t", "market_ts": market_ts, "quote": "BTC"}
    return new_event("DECISION", payload, source="decision-engine")


async def opened(tmp_path, symbols=SYMBOLS[:2], timeout_s=600.0):
    ex, pub = make(tmp_path), ExecutorRecorder()
    for s in symbols:
        tick(ex, s, 1e-5, T0)
        await ex.handle_decision(buy(s, T0, timeout_s), pub)
    assert len(ex.store.positions) == len(symbols)
    await ex.check_exits(pub, symbols[0])  # the check after the positions changed: every one
    return ex, pub


async def test_price_of_a_symbol_checks_only_its_positions(tmp_path):
    """A PRICE of a symbol nobody holds has nothing to check; one of a held symbol its own."""
    ex, pub = await opened(tmp_path)
    tick(ex, "NASBTC", 1e-5, T0 + 1)
    assert not ex.exits_due("NASBTC")
    assert ex.exits.due("NASBTC", T0 + 1, ex.trading_state) == []
    due = ex.exits.due("GVTBTC", T0 + 1, ex.trading_state)
    assert [p.symbol for p in due] == ["GVTBTC"]
    tick(ex, "GVTBTC", 1.06e-5, T0 + 2)
    assert ex.exits_due("GVTBTC") and await ex.check_exits(pub, "GVTBTC") == 1
    (close,) = pub.of("CLOSE")
    assert close.payload["symbol"] == "GVTBTC" and close.payload["reason"] == "take_profit"


async def test_timeout_sweep_fires_at_the_same_price_on_the_market_clock(tmp_path):
    """Another symbol's PRICE at the deadline closes by timeout, not one PRICE earlier."""
    ex, pub = await opened(tmp_path, SYMBOLS[:1])
    tick(ex, "NASBTC", 1e-5, T0 + 599.99)
    assert not ex.exits_due("NASBTC") and await ex.check_exits(pub, "NASBTC") == 0
    tick(ex, "NASBTC", 1e-5, T0 + 600)
    assert ex.exits_due("NASBTC") and await ex.check_exits(pub, "NASBTC") == 1
    assert pub.of("CLOSE")[0].payload["reason"] == "timeout"


async def test_failed_close_is_retried_on_any_price(tmp_path):
    """A close the venue refused is tried again on the next PRICE, whatever its symbol."""
    ex, pub = await opened(tmp_path)
    ex.exchange.fail_next()
    tick(ex, "EVXBTC", 1.06e-5, T0 + 5)
    assert await ex.check_exits(pub, "EVXBTC") == 0 and len(ex.store.positions) == 2
    tick(ex, "NASBTC", 1e-5, T0 + 6)
    assert ex.exits_due("NASBTC") and await ex.check_exits(pub, "NASBTC") == 1
    assert pub.of("CLOSE")[0].payload["reason"] == "take_profit"


async def test_resume_checks_every_position_once(tmp_path):
    """A target hit while HALTED closes at the first PRICE after resume, of any symbol."""
    ex, pub = await opened(tmp_path)
    ex.trading_state = "HALTED"
    tick(ex, "EVXBTC", 1.06e-5, T0 + 5)
    assert await ex.check_exits(pub, "EVXBTC") == 0
    ex.trading_state = "ACTIVE"
    tick(ex, "NASBTC", 1e-5, T0 + 6)
    assert ex.exits_due("NASBTC") and await ex.check_exits(pub, "NASBTC") == 1
    await ex.check_exits(pub, "NASBTC")  # the close changed the positions: all checked once
    assert not ex.exits_due("NASBTC")


async def _run(ex, pub, steps, by_symbol):
    closes: list[tuple[int, str, str]] = []  # (PRICE index, symbol, reason)
    for k, (symbol, price, ts, fail, state, timeout_s) in enumerate(steps):
        ex.trading_state = state
        if fail:
            ex.exchange.fail_next()
        tick(ex, symbol, price, ts)
        if timeout_s is not None:  # a BUY now (refused while one is open on the symbol)
            await ex.handle_decision(buy(symbol, ts, timeout_s), pub)
        if by_symbol:
            if ex.store.positions and ex.exits_due(symbol):
                await ex.check_exits(pub, symbol)
        elif ex.store.positions:
            await ex.check_exits(pub)
        new = pub.of("CLOSE")[len(closes):]
        closes += [(k, c.payload["symbol"], c.payload["reason"]) for c in new]
    return closes


def random_steps(rng):
    steps, ts = [], T0
    for _ in range(400):
        ts += rng.choice((0.5, 3.0, 20.0))
        buy_now = rng.random() < 0.1
        steps.append((rng.choice(SYMBOLS), 1e-5 * rng.uniform(0.95, 1.07), ts,
                      rng.random() < 0.05, "HALTED" if rng.random() < 0.05 else "ACTIVE",
                      rng.choice((60.0, 600.0)) if buy_now else None))
    return steps


async def test_same_closes_as_checking_every_position(tmp_path):
    """Random prices, BUYs, clock steps, failed SELLs and halts: the same CLOSEs at the same
    PRICEs as checking every position on every PRICE."""
    rng = random.Random(7)
    for run in range(6):
        steps = random_steps(rng)
        results = []
        for by_symbol in (False, True):
            ex = make(tmp_path / f"r{run}{by_symbol}")
            pub = ExecutorRecorder()
            for s in SYMBOLS[:3]:
                tick(ex, s, 1e-5, T0)
                await ex.handle_decision(buy(s, T0, 300.0), pub)
            results.append(await _run(ex, pub, steps, by_symbol))
        assert results[0] == results[1] and len(results[0]) >= 3
