"""The stand-in's own /sim/v1 endpoints: what it served, faults and statuses on demand."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from hope.testing import async_wait_for
from hope.venue_sim.scenario import MarketSettings, Scenario
from hope.venue_sim.testing import ManualClock, running, steady_trades, write_trades

T0 = 1_600_000_000.0


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", steady_trades(30, T0))]


async def test_status_reports_published_trades_and_requests(data: list[Path]) -> None:
    """GET /sim/v1/status: per symbol published count and last id; REST counts; not weighed."""
    clock = ManualClock()
    async with running(data, Scenario(market=MarketSettings(start_delay_s=1)),
                       clock=clock) as sim, aiohttp.ClientSession() as s:
        clock.advance(5.5)      # ids 1..5 due
        sim.publisher.poke()
        await async_wait_for(lambda: sim.publisher.published["EVXBTC"] == 5, message="publish")
        async with s.get(f"{sim.rest_url}/api/v3/time"):
            pass
        async with s.get(f"{sim.rest_url}/sim/v1/status") as r:
            body = await r.json()
            assert "X-MBX-USED-WEIGHT-1M" not in r.headers
        assert body["symbols"]["EVXBTC"] == {"published": 5, "last_id": 5, "total": 30,
                                             "status": "TRADING"}
        assert body["rest"]["by_path"] == {"/api/v3/time": 1} and body["rest"]["used_weight"] == 1


async def test_faults_and_statuses_on_demand(data: list[Path]) -> None:
    """POST /sim/v1/fault drops every connection now; POST /sim/v1/status sets a status."""
    async with running(data) as sim, aiohttp.ClientSession() as s:
        ws = await s.ws_connect(f"{sim.ws_url}/ws/evxbtc@aggTrade")
        await async_wait_for(lambda: sim.streams.connections, message="connection")
        async with s.post(f"{sim.rest_url}/sim/v1/fault", json={"kind": "drop"}) as r:
            assert await r.json() == {"result": "ok", "connections": 1}
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR,
                            aiohttp.WSMsgType.CLOSE)
        async with s.post(f"{sim.rest_url}/sim/v1/status",
                          json={"symbol": "EVXBTC", "status": "BREAK"}) as r:
            assert r.status == 200
        async with s.get(f"{sim.rest_url}/api/v3/exchangeInfo") as r:
            assert (await r.json())["symbols"][0]["status"] == "BREAK"
        for body in ({"kind": "explode"}, {"kind": "outage"}, {"kind": "stall", "seconds": -1}):
            async with s.post(f"{sim.rest_url}/sim/v1/fault", json=body) as r:
                assert r.status == 400 and "error" in await r.json()
        async with s.post(f"{sim.rest_url}/sim/v1/status", json={"symbol": "NOPE"}) as r:
            assert r.status == 400


async def test_closing_the_market_on_demand(data: list[Path]) -> None:
    """POST /sim/v1/market closes it for good: published counts stop, status says closed."""
    clock = ManualClock()
    async with running(data, Scenario(market=MarketSettings(start_delay_s=1)),
                       clock=clock) as sim, aiohttp.ClientSession() as s:
        clock.advance(3.5)      # ids 1..3 due
        async with s.post(f"{sim.rest_url}/sim/v1/market", json={"state": "open"}) as r:
            assert r.status == 400 and "closed" in (await r.json())["error"]
        async with s.post(f"{sim.rest_url}/sim/v1/market", json={"state": "closed"}) as r:
            assert await r.json() == {"result": "ok", "published": {"EVXBTC": 3}}
        clock.advance(10)
        sim.publisher.poke()
        await async_wait_for(lambda: sim.publisher.published["EVXBTC"] == 3, message="publish")
        async with s.get(f"{sim.rest_url}/api/v3/aggTrades?symbol=EVXBTC") as r:
            assert [t["a"] for t in await r.json()] == [1, 2, 3]
        async with s.get(f"{sim.rest_url}/sim/v1/status") as r:
            assert (await r.json())["market"] == "closed"
