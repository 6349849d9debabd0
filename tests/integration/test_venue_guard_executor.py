"""The live executor with its clock and rate guards on the stand-in: a skewed venue clock and
an IP ban each open breaker ``venue_guard`` with the reason, a BUY meanwhile is REJECTED naming
it and nothing reaches the venue; once clear, the BUY goes out stamped with the venue's time.
Counted from the stand-in's own order book."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from hope.clock import ManualClock, MarketClock, WallClock
from hope.envelope import new_event
from hope.execution.breaker import CircuitBreaker
from hope.execution.config import ExecutionConfig
from hope.execution.live import LiveExecutor
from hope.execution.positions import ExecutorStore
from hope.execution.venue_guard import VenueGuard
from hope.venue.adapter import BinanceVenue
from hope.venue.config import BinanceVenueConfig
from hope.venue.keys import load_keys
from hope.venue.rest import VenueRest
from hope.venue_sim.scenario import MarketSettings, Scenario
from hope.venue_sim.signing import load_key_dir
from hope.venue_sim.testing import generate_test_keys, running, steady_trades, write_trades

pytestmark = pytest.mark.integration


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv",
                         steady_trades(400, time.time() - 300, 1.0))]


def buy(price: float, market_ts: float, n: int):
    payload = {"symbol": "EVXBTC", "strategy": "pump", "action": "BUY", "confidence": 0.7,
               "reasons": [], "position_size": 0.001, "price": price, "quote": "BTC",
               "targets": {"take_profit_pct": 50.0, "stop_loss_pct": 50.0, "timeout_s": 60.0},
               "config_hash": "cfg:t", "market_ts": market_ts + n}
    return new_event("DECISION", payload, source="decision-engine")


class Events:
    def __init__(self) -> None:
        self.events: list = []

    async def __call__(self, event_type, payload, parent, timestamp):
        env = new_event(event_type, payload, source="executor", parent=parent,
                        timestamp=timestamp)
        self.events.append(env)
        return env

    def of(self, kind: str) -> list:
        return [e for e in self.events if e.event_type == kind]


async def test_clock_skew_and_a_ban_hold_orders_back_with_the_reason(tmp_path, data):
    """Skew 2.5 s: guard open, BUY REJECTED naming the offset, no venue order; skew gone:
    closed, the BUY fills; a 418 ban: open again with the ban's reason, no order sent."""
    keys = generate_test_keys(tmp_path)
    scenario = Scenario(market=MarketSettings(skip_s=250))
    async with running(data, scenario, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        k = load_keys(BinanceVenueConfig(), tmp_path / "keys")
        venue = BinanceVenue(VenueRest(sim.rest_url, k.api_key, k.signer, recv_window_ms=5000,
                                       timeout_s=5.0))
        guard = VenueGuard(clock=WallClock(), max_offset_ms=1000, refresh_s=300,
                           state_path=tmp_path / "venue" / "orders_today.jsonl")
        guard.install(venue.rest)
        ex = LiveExecutor(ExecutionConfig(exchange="binance", max_open_positions=5,
                                          max_symbol_exposure={"BTC": 0.01},
                                          max_total_exposure={"BTC": 0.01}), venue,
                          ExecutorStore(tmp_path / "positions"),
                          CircuitBreaker("exchange", clock=ManualClock()),
                          market_clock=MarketClock())
        ex.guard = guard
        pub = Events()

        async def sim_orders() -> int:
            async with s.get(f"{sim.rest_url}/sim/v1/orders") as resp:
                return len((await resp.json())["orders"])

        async def post(path: str, body: dict) -> None:
            async with s.post(f"{sim.rest_url}{path}", json=body) as resp:
                assert resp.status == 200, await resp.text()

        try:
            await post("/sim/v1/clock", {"skew_ms": -2500})
            assert await guard.tick() == ("open", "open") or guard.state == "open"
            assert "clock offset 2" in guard.reason
            [alert] = guard.take_alerts()
            assert alert["kind"] == "venue_clock_offset"
            await ex.reconcile(pub)   # stamped with the venue's time: passes despite the skew
            assert ex.gate.state == "closed"
            guard.learn_limits(venue.rate_limits)
            price, now = float(steady_trades(400, 0, 1.0)[250][1]), time.time()
            ex.market_clock.observe(now)
            ex.on_price("EVXBTC", price, now)
            await ex.handle_decision(buy(price, now, 1), pub)
            (order,) = pub.of("ORDER")
            assert order.payload["status"] == "REJECTED"
            assert "venue guard open: breaker open: clock offset 2" in order.payload["reason"]
            assert await sim_orders() == 0

            await post("/sim/v1/clock", {"skew_ms": 0})
            guard.clock.on_venue_error(-1021)    # as the next -1021 would: estimate now
            assert await guard.tick() == ("open", "closed")
            await ex.handle_decision(buy(price, now, 2), pub)
            assert pub.of("ORDER")[-1].payload["status"] == "NEW" and await sim_orders() == 1

            await post("/sim/v1/trading-fault", {"kind": "ban", "after": 0, "count_429": 0,
                                                 "ban_s": 30})
            guard.clock.on_venue_error(-1021)   # the next /time meets the ban
            assert await guard.tick() == ("closed", "open")
            assert "IP ban (HTTP 418)" in guard.reason
            assert {a["kind"] for a in guard.take_alerts()} >= {"venue_banned"}
            await ex.handle_decision(buy(price, now, 3), pub)
            assert pub.of("ORDER")[-1].payload["status"] == "REJECTED"
            assert "IP ban" in pub.of("ORDER")[-1].payload["reason"]
            assert await sim_orders() == 1
        finally:
            guard.close()
            await venue.aclose()
