"""The executor service on the stand-in with its venue guards and user stream: the stream
subscribes and its first gap is checked, heartbeat and /metrics tables filled; a skewed venue
clock opens breaker venue_guard with the reason (BREAKER event) and an ALERT; a BUY meanwhile
is REJECTED naming it, nothing reaches the venue's book."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from hope.bus.memory import LocalBroker
from hope.envelope import new_event
from hope.execution.service import ExecutorService
from hope.testing import async_wait_for, service_for_tests
from hope.venue_sim.scenario import MarketSettings, Scenario
from hope.venue_sim.signing import load_key_dir
from hope.venue_sim.testing import generate_test_keys, running, steady_trades, write_trades

pytestmark = pytest.mark.integration


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv",
                         steady_trades(400, time.time() - 300, 1.0))]


async def test_guard_and_user_stream_in_the_running_executor(tmp_path, data):
    """Stream up and gap checked; skew → BREAKER venue_guard open with reason, ALERT, BUY
    REJECTED with it and no venue order; skew gone → closed again."""
    state = tmp_path / "st"
    keys = generate_test_keys(state)
    async with running(data, Scenario(market=MarketSettings(skip_s=250)),
                       keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        broker = LocalBroker()
        svc = await service_for_tests(ExecutorService, state, broker, {"execution": {
            "exchange": "binance", "binance": {"rest_url": sim.rest_url,
                                               "ws_api_url": f"{sim.ws_url}/ws-api/v3"}}})
        task = asyncio.create_task(svc.runtime.run())
        try:
            await async_wait_for(lambda: svc.executor.gate.state == "closed", 20, "reconciled")
            await async_wait_for(lambda: svc.venue_tasks.stream.state == "up"
                                 and not svc.venue_tasks.account.book.gap_pending, 20, "stream up")
            await async_wait_for(lambda: svc.venue_tasks.guard.state == "closed", 20, "guard closed")
            beat = svc.heartbeat()
            assert beat["breakers"]["venue_guard"] == "closed"
            assert beat["venue"]["user_stream"]["state"] == "up"
            assert abs(beat["venue"]["clock"]["clock_offset_ms"]) < 200

            async with s.post(f"{sim.rest_url}/sim/v1/clock", json={"skew_ms": -3000}) as r:
                assert r.status == 200
            svc.venue_tasks.guard.clock.on_venue_error(-1021)   # as the next -1021 would
            await async_wait_for(lambda: svc.venue_tasks.guard.state == "open", 20, "guard open")

            def guard_breakers():
                return [e for e in broker.published if e.event_type == "BREAKER"
                        and e.payload["name"] == "venue_guard" and e.payload["state"] == "open"]

            await async_wait_for(guard_breakers, 10, "BREAKER venue_guard open")
            assert "clock offset 3" in guard_breakers()[-1].payload["reason"]
            await async_wait_for(lambda: [e for e in broker.published if e.event_type ==
                                          "ALERT" and e.payload.get("kind") ==
                                          "venue_clock_offset"], 10, "ALERT")
            price, now = float(steady_trades(400, 0, 1.0)[250][1]), time.time()
            svc.executor.market_clock.observe(now)
            svc.executor.on_price("EVXBTC", price, now)
            svc.executor.trading_state = "ACTIVE"
            payload = {"symbol": "EVXBTC", "strategy": "pump", "action": "BUY",
                       "confidence": 0.7, "reasons": [], "position_size": 0.001,
                       "price": price, "quote": "BTC", "config_hash": "cfg:t",
                       "targets": {"take_profit_pct": 50.0, "stop_loss_pct": 50.0,
                                   "timeout_s": 60.0}, "market_ts": now}
            await svc.on_decision(new_event("DECISION", payload, source="decision-engine"))
            orders = [e for e in broker.published if e.event_type == "ORDER"]
            assert orders[-1].payload["status"] == "REJECTED"
            assert "venue guard open: breaker open: clock offset 3" in \
                orders[-1].payload["reason"]
            async with s.get(f"{sim.rest_url}/sim/v1/orders") as r:
                assert (await r.json())["orders"] == []

            async with s.post(f"{sim.rest_url}/sim/v1/clock", json={"skew_ms": 0}) as r:
                assert r.status == 200
            svc.venue_tasks.guard.clock.on_venue_error(-1021)
            await async_wait_for(lambda: svc.venue_tasks.guard.state == "closed", 20, "guard closed")
        finally:
            svc.runtime.request_stop()
            await task
