"""The venue's time and rate guards against the stand-in's real endpoints: the clock offset
estimated from /api/v3/time under an injected skew, and the budget fed by its headers, refusing
orders locally before the venue's ORDERS limit and opening on its 429 → 418 ban."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hope.clock import WallClock
from hope.venue.budget import Budget, RateLimits
from hope.venue.clock import ClockOffset
from hope.venue_sim.scenario import MarketSettings, RestSettings, Scenario, TradingSettings
from hope.venue_sim.signing import load_key_dir
from hope.venue_sim.testing import (
    VenueTestKeys,
    generate_test_keys,
    running,
    signed_query,
    steady_trades,
    write_trades,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv",
                         steady_trades(400, time.time() - 300, 1.0))]


@pytest.fixture
def keys(tmp_path: Path) -> VenueTestKeys:
    return generate_test_keys(tmp_path)


async def call(s: aiohttp.ClientSession, url: str, method: str, path: str,
               keys: VenueTestKeys | None = None, **params: Any) -> tuple[int, Any, Any]:
    if keys is not None:
        query = signed_query(params, keys)
        headers = {"X-MBX-APIKEY": keys.api_key}
    else:
        query, headers = "&".join(f"{k}={v}" for k, v in params.items()), {}
    async with s.request(method, f"{url}{path}?{query}", headers=headers) as resp:
        return resp.status, await resp.json(content_type=None), resp.headers


async def test_clock_offset_follows_the_venue_skew_and_corrects_signed_stamps(data, keys):
    """With the stand-in's clock 2.5 s behind, the estimate finds it, opens the breaker, and a
    stamp corrected by it is accepted where the raw local stamp gets -1021."""
    scenario = Scenario(market=MarketSettings(skip_s=250))
    async with running(data, scenario, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        url = sim.rest_url
        async with s.post(f"{url}/sim/v1/clock", json={"skew_ms": -2500}) as resp:
            assert resp.status == 200

        async def server_ms() -> int:
            status, body, _ = await call(s, url, "GET", "/api/v3/time")
            assert status == 200
            return int(body["serverTime"])

        est = ClockOffset(server_ms, clock=WallClock(), samples=5, max_offset_ms=1000)
        offset = await est.estimate()
        assert offset == pytest.approx(-2500, abs=100)
        assert (est.breaker_reason() or "").startswith("breaker open: clock offset 2")
        status, body, _ = await call(s, url, "GET", "/api/v3/account", keys,
                                     timestamp=int(time.time() * 1000))
        assert (status, body["code"]) == (400, -1021)
        est.on_venue_error(body["code"])
        assert est.due()
        status, body, _ = await call(s, url, "GET", "/api/v3/account", keys,
                                     timestamp=est.now_ms())
        assert status == 200 and "balances" in body


async def test_orders_are_refused_locally_before_the_venue_limit(data, keys):
    """ORDERS 5 per 10 s at the stand-in: the budget (share 0.9 → 4) refuses the fifth order
    before it is sent, and its count is the one the venue's header reports."""
    scenario = Scenario(market=MarketSettings(skip_s=250),
                        trading=TradingSettings(orders_per_10s=5))
    async with running(data, scenario, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        url = sim.rest_url
        status, info, _ = await call(s, url, "GET", "/api/v3/exchangeInfo")
        budget = Budget(RateLimits.from_exchange_info(info), clock=WallClock(), order_share=0.9)
        assert [w.limit.limit for w in budget.windows if w.limit.window_s == 10] == [5]
        sent = 0
        for i in range(6):
            reason = budget.acquire(1, orders=1)
            if reason is not None:
                break
            status, body, headers = await call(
                s, url, "POST", "/api/v3/order", keys, symbol="EVXBTC", side="BUY",
                type="MARKET", quoteOrderQty="0.0002", newClientOrderId=f"hope-g{i}",
                timestamp=int(time.time() * 1000))
            assert status == 200, body
            assert budget.observe(status, headers) is None
            sent += 1
        assert sent == 4 and reason is not None and "order count 4+1 > 4 per 10 SECOND" in reason
        assert budget.snapshot()["orders"]["10S"] >= 4


async def test_429_then_418_from_the_venue_alert_and_open_the_breaker(data):
    """Request weight past the stand-in's limit: 429 (back off) then 418 (the ban): the budget
    alerts on both and its breaker reason holds until the ban's Retry-After."""
    scenario = Scenario(market=MarketSettings(skip_s=250),
                        rest=RestSettings(weight_limit=30, ban_after=1, ban_s=120))
    async with running(data, scenario) as sim, aiohttp.ClientSession() as s:
        url = sim.rest_url
        _, info, _ = await call(s, url, "GET", "/api/v3/exchangeInfo")
        budget = Budget(RateLimits.from_exchange_info(info), clock=WallClock())
        alerts = []
        for _ in range(10):   # bounded: a minute boundary mid-way only restarts the sequence
            status, _, headers = await call(s, url, "GET", "/api/v3/exchangeInfo")
            if (alert := budget.observe(status, headers)) is not None:
                alerts.append((status, alert))
            if status == 418:
                break
        assert [st for st, _ in alerts][-2:] == [429, 418]
        assert "backing off" in alerts[-2][1] and "IP ban (HTTP 418)" in alerts[-1][1]
        assert (budget.breaker_reason() or "").startswith(
            "breaker open: venue IP ban (HTTP 418) for another 1")
        assert "IP ban" in (budget.acquire(1, orders=1) or "")
