"""Stand-in REST: the venue's endpoints, JSON shapes, error codes, weight header and limits
(429 then the 418 ban with Retry-After), and the slow/failing REST knobs."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from hope.venue_sim.exchange_info import StatusChange
from hope.venue_sim.limits import WeightLimiter
from hope.venue_sim.scenario import RestSettings, Scenario
from hope.venue_sim.testing import ManualClock, running, steady_trades, write_trades

T0 = 1_600_000_000.0


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", steady_trades(50, T0)),
            write_trades(tmp_path / "binance_XRPETH_aggtrades.csv", steady_trades(5, T0))]


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, object, dict]:
    async with session.get(url) as resp:
        return resp.status, await resp.json(content_type=None), dict(resp.headers)


async def test_time_ping_and_weight_header(data: list[Path]) -> None:
    """/time and /ping answer in the venue's shape; every response carries the used weight."""
    clock = ManualClock(1_700_000_000.25)
    async with running(data, clock=clock) as sim, aiohttp.ClientSession() as s:
        status, body, headers = await get(s, f"{sim.rest_url}/api/v3/time")
        assert status == 200 and body == {"serverTime": 1_700_000_000_250}
        assert headers["X-MBX-USED-WEIGHT-1M"] == "1"
        status, body, headers = await get(s, f"{sim.rest_url}/api/v3/ping")
        assert body == {} and headers["X-MBX-USED-WEIGHT-1M"] == "2"
        _, _, headers = await get(s, f"{sim.rest_url}/api/v3/exchangeInfo")
        assert headers["X-MBX-USED-WEIGHT-1M"] == "22"          # exchangeInfo weighs 20
        _, _, headers = await get(s, f"{sim.rest_url}/api/v3/aggTrades?symbol=EVXBTC")
        assert headers["X-MBX-USED-WEIGHT-1M"] == "26"          # aggTrades weighs 4


async def test_exchange_info_symbols_status_and_rate_limits(data: list[Path]) -> None:
    """exchangeInfo lists each served symbol with status, assets, filters and rateLimits."""
    sc = Scenario(status={"XRPETH": "BREAK"})
    async with running(data, sc) as sim, aiohttp.ClientSession() as s:
        _, body, _ = await get(s, f"{sim.rest_url}/api/v3/exchangeInfo")
        by = {e["symbol"]: e for e in body["symbols"]}
        assert by["EVXBTC"]["status"] == "TRADING" and by["XRPETH"]["status"] == "BREAK"
        assert (by["EVXBTC"]["baseAsset"], by["EVXBTC"]["quoteAsset"]) == ("EVX", "BTC")
        assert {f["filterType"] for f in by["EVXBTC"]["filters"]} >= {"PRICE_FILTER",
                                                                      "LOT_SIZE", "NOTIONAL"}
        limits = {(r["rateLimitType"], r["interval"]): r["limit"] for r in body["rateLimits"]}
        assert limits[("REQUEST_WEIGHT", "MINUTE")] == 6000
        _, one, _ = await get(s, f'{sim.rest_url}/api/v3/exchangeInfo?symbols=["XRPETH"]')
        assert [e["symbol"] for e in one["symbols"]] == ["XRPETH"]
        _, trading, _ = await get(s, f"{sim.rest_url}/api/v3/exchangeInfo?symbolStatus=TRADING")
        assert [e["symbol"] for e in trading["symbols"]] == ["EVXBTC"]
        status, err, _ = await get(s, f"{sim.rest_url}/api/v3/exchangeInfo?symbol=NOPE")
        assert (status, err) == (400, {"code": -1121, "msg": "Invalid symbol."})


async def test_agg_trades_rows_and_errors(data: list[Path]) -> None:
    """aggTrades rows carry a,p,q,f,l,T,m,M; bad input gets the venue's error JSON."""
    clock = ManualClock()
    async with running(data, clock=clock) as sim, aiohttp.ClientSession() as s:
        clock.advance(100)
        base = f"{sim.rest_url}/api/v3/aggTrades"
        status, rows, _ = await get(s, f"{base}?symbol=EVXBTC&fromId=10&limit=2")
        assert status == 200 and [r["a"] for r in rows] == [10, 11]
        assert set(rows[0]) == {"a", "p", "q", "f", "l", "T", "m", "M"}
        start_ms = rows[0]["T"]
        _, rows, _ = await get(s, f"{base}?symbol=EVXBTC&startTime={start_ms * 1000}&limit=1")
        assert [r["a"] for r in rows] == [10]                   # microseconds accepted
        _, rows, _ = await get(s, f"{base}?symbol=EVXBTC&limit=5000")
        assert len(rows) == 50                                  # served at most 1000
        cases = {
            "": (-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or "
                        "malformed."),
            "symbol=NOPE": (-1121, "Invalid symbol."),
            "symbol=EVXBTC&fromId=x": (-1100, None),
            "symbol=EVXBTC&fromId=1&startTime=1": (-1128, None),
            "symbol=EVXBTC&bogus=1": (-1104, None),
        }
        for query, (code, msg) in cases.items():
            status, err, headers = await get(s, f"{base}?{query}")
            assert status == 400 and err["code"] == code, query
            assert msg is None or err["msg"] == msg
            assert "X-MBX-USED-WEIGHT-1M" in headers


async def test_429_then_418_ban_with_retry_after(data: list[Path]) -> None:
    """Over the weight limit: 429 with Retry-After; keeping on: 418 (the ban) with its length."""
    clock = ManualClock(60.0 * 28_333_334 + 10)    # 50 s left in the minute
    sc = Scenario(rest=RestSettings(weight_limit=10, ban_after=2, ban_s=120))
    async with running(data, sc, clock=clock) as sim, aiohttp.ClientSession() as s:
        url = f"{sim.rest_url}/api/v3/aggTrades?symbol=EVXBTC&limit=1"
        statuses = []
        for _ in range(6):
            status, body, headers = await get(s, url)
            statuses.append((status, headers.get("Retry-After")))
        assert statuses[:2] == [(200, None), (200, None)]
        assert statuses[2:4] == [(429, "50"), (429, "50")]
        assert statuses[4:] == [(418, "120"), (418, "120")]
        assert body["code"] == -1003 and "banned until" in body["msg"]
        clock.advance(121)                                      # the ban is over
        status, _, headers = await get(s, url)
        assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "4"


def test_weight_window_resets_each_minute_and_bans_grow() -> None:
    """The used weight restarts each minute; a second ban lasts twice as long."""
    clock = ManualClock(60.0 * 1000)
    lim = WeightLimiter(limit=4, ban_after=0, ban_s=120, clock=clock)
    assert lim.charge(4).status == 200
    first = lim.charge(4)
    assert (first.status, first.retry_after) == (418, 120)
    clock.advance(180)
    assert lim.charge(4).status == 200 and lim.current() == 4
    assert lim.charge(4).retry_after == 240


async def test_slow_and_failing_rest(data: list[Path]) -> None:
    """fail_first requests get 503 with -1001, then every fail_every-th; delay_s delays all."""
    sc = Scenario(rest=RestSettings(fail_first=2, fail_every=3, delay_s=0.05))
    async with running(data, sc) as sim, aiohttp.ClientSession() as s:
        started = time.monotonic()
        got = [await get(s, f"{sim.rest_url}/api/v3/time") for _ in range(6)]
        assert time.monotonic() - started >= 6 * 0.05
        assert [g[0] for g in got] == [503, 503, 200, 200, 503, 200]
        assert got[0][1]["code"] == -1001 and "X-MBX-USED-WEIGHT-1M" in got[0][2]
        assert sim.rest.refused[503] == 3


async def test_status_schedule_lists_breaks_and_unlists(data: list[Path]) -> None:
    """UNLISTED symbols are absent and refused (-1121); scheduled changes apply on the clock."""
    clock = ManualClock()
    sc = Scenario(status={"XRPETH": "UNLISTED"},
                  status_changes=[StatusChange("XRPETH", "TRADING", 5.0),
                                  StatusChange("EVXBTC", "BREAK", 3.0)])
    async with running(data, sc, clock=clock) as sim, aiohttp.ClientSession() as s:
        info = f"{sim.rest_url}/api/v3/exchangeInfo"

        async def statuses() -> dict[str, str]:
            _, body, _ = await get(s, info)
            return {e["symbol"]: e["status"] for e in body["symbols"]}

        assert await statuses() == {"EVXBTC": "TRADING"}
        status, err, _ = await get(s, f"{sim.rest_url}/api/v3/aggTrades?symbol=XRPETH")
        assert (status, err["code"]) == (400, -1121)
        clock.advance(3)
        assert await statuses() == {"EVXBTC": "BREAK"}
        clock.advance(2)
        assert await statuses() == {"EVXBTC": "BREAK", "XRPETH": "TRADING"}
        status, _, _ = await get(s, f"{sim.rest_url}/api/v3/aggTrades?symbol=XRPETH")
        assert status == 200


async def test_microsecond_time_unit_header(data: list[Path]) -> None:
    """X-MBX-TIME-UNIT: MICROSECOND makes the response's times µs; a bad unit is refused."""
    clock = ManualClock(1_700_000_000.0)
    async with running(data, clock=clock) as sim, aiohttp.ClientSession() as s:
        clock.advance(100)
        micro = {"X-MBX-TIME-UNIT": "MICROSECOND"}
        async with s.get(f"{sim.rest_url}/api/v3/time", headers=micro) as r:
            assert (await r.json())["serverTime"] == 1_700_000_100_000_000
        url = f"{sim.rest_url}/api/v3/aggTrades?symbol=EVXBTC&fromId=1&limit=1"
        async with s.get(url, headers=micro) as r:
            assert (await r.json())[0]["T"] == int(T0 * 1e6)
        async with s.get(url, headers={"X-MBX-TIME-UNIT": "NANO"}) as r:
            assert r.status == 400 and (await r.json())["code"] == -1100
