"""The stand-in's trading fault knobs over /sim/v1 (in-process server): replies lost after the
order was placed (5xx, -1007), false -2013 after placement, partial fills and base-asset fees
switched at run time, 429 then the 418 ban, and a held reply released, dropped or failed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hope.venue_sim.scenario import MarketSettings, Scenario
from hope.venue_sim.signing import load_key_dir
from hope.venue_sim.sim_client import SimAdmin, SimAdminError
from hope.venue_sim.testing import (
    ManualClock,
    VenueTestKeys,
    generate_test_keys,
    running,
    signed_query,
    steady_trades,
    write_trades,
)

SCENARIO = Scenario(market=MarketSettings(skip_s=250))


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv",
                         steady_trades(400, time.time() - 300, 1.0))]


@pytest.fixture
def keys(tmp_path: Path) -> VenueTestKeys:
    return generate_test_keys(tmp_path)


class Venue:
    def __init__(self, session: aiohttp.ClientSession, url: str, keys: VenueTestKeys,
                 clock: Callable[[], float] = time.time) -> None:
        self.s, self.url, self.keys, self.clock = session, url, keys, clock

    async def signed(self, method: str, path: str, **params: Any) -> tuple[int, Any, dict]:
        query = signed_query({**params, "timestamp": int(self.clock() * 1000)}, self.keys)
        async with self.s.request(method, f"{self.url}{path}?{query}",
                                  headers={"X-MBX-APIKEY": self.keys.api_key}) as resp:
            text = await resp.text()
            body = await resp.json(content_type=None) if text.startswith("{") else text
            return resp.status, body, dict(resp.headers)

    async def buy(self, **params: Any) -> tuple[int, Any, dict]:
        return await self.signed("POST", "/api/v3/order", symbol="EVXBTC", side="BUY",
                                 type="MARKET", quantity="100", **params)

    async def admin(self, path: str, body: dict | None = None) -> Any:
        method = "GET" if body is None else "POST"
        async with self.s.request(method, self.url + path, json=body) as resp:
            return await resp.json()

    async def orders(self) -> list[dict]:
        return (await self.admin("/sim/v1/orders"))["orders"]


@pytest.fixture
async def venue(data: list[Path], keys: VenueTestKeys):  # noqa: ANN201 - an async fixture
    async with running(data, SCENARIO, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        yield Venue(s, sim.rest_url, keys)


async def test_reply_lost_after_placing(venue: Venue) -> None:
    """reply_5xx, reply_1007 and reply_error: the order is placed and filled, the client gets a
    503 page, HTTP 408 with -1007, HTTP 500 with -1006; the next order is answered normally."""
    await venue.admin("/sim/v1/trading-fault", {"kind": "reply_5xx", "status": 503})
    status, body, _ = await venue.buy(newClientOrderId="lost-1")
    assert status == 503 and "Server Error" in body
    await venue.admin("/sim/v1/trading-fault", {"kind": "reply_1007"})
    status, body, _ = await venue.buy(newClientOrderId="lost-2")
    assert (status, body["code"]) == (408, -1007)
    await venue.admin("/sim/v1/trading-fault", {"kind": "reply_error", "code": -1006})
    status, body, _ = await venue.buy(newClientOrderId="lost-3")
    assert (status, body["code"]) == (500, -1006) and "Execution status unknown" in body["msg"]
    assert (await venue.buy())[0] == 200
    assert [(o["clientOrderId"], o["status"]) for o in await venue.orders()][:3] == [
        ("lost-1", "FILLED"), ("lost-2", "FILLED"), ("lost-3", "FILLED")]
    bad = await venue.admin("/sim/v1/trading-fault", {"kind": "reply_error", "code": -2010})
    assert "code: one of" in bad["error"]


async def test_not_found_right_after_placement(data: list[Path], keys: VenueTestKeys) -> None:
    """not_found: a query by origClientOrderId answers -2013 until the order is ms old (the
    venue's clock held still and then moved on by hand)."""
    clock = ManualClock(time.time())
    async with running(data, SCENARIO, keys=[load_key_dir(keys.directory)],
                       clock=clock) as sim, aiohttp.ClientSession() as s:
        venue = Venue(s, sim.rest_url, keys, clock)
        await venue.admin("/sim/v1/trading-fault", {"kind": "not_found", "ms": 3000})
        await venue.buy(newClientOrderId="late-1")
        clock.advance(2.9)
        status, body, _ = await venue.signed("GET", "/api/v3/order", symbol="EVXBTC",
                                             origClientOrderId="late-1")
        assert (status, body["code"]) == (400, -2013)
        clock.advance(0.2)
        status, body, _ = await venue.signed("GET", "/api/v3/order", symbol="EVXBTC",
                                             origClientOrderId="late-1")
        assert (status, body["status"]) == (200, "FILLED")


async def test_partial_fills_and_base_fees_at_run_time(venue: Venue) -> None:
    """partial_fills and commission_asset switch at run time: three fills, fees in the base."""
    await venue.admin("/sim/v1/trading-fault", {"kind": "partial_fills", "parts": 3})
    await venue.admin("/sim/v1/trading-fault", {"kind": "commission_asset", "asset": "base"})
    _, body, _ = await venue.buy()
    assert len(body["fills"]) == 3 and {f["commissionAsset"] for f in body["fills"]} == {"EVX"}
    bad = await venue.admin("/sim/v1/trading-fault", {"kind": "commission_asset", "asset": "x"})
    assert "error" in bad


async def test_429_then_418_ban(venue: Venue) -> None:
    """ban: after N requests, count_429 answers 429 with Retry-After, then 418 with the ban's
    Retry-After, on every endpoint."""
    await venue.admin("/sim/v1/trading-fault",
                      {"kind": "ban", "after": 1, "count_429": 2, "ban_s": 30})
    statuses = []
    for _ in range(5):
        status, body, headers = await venue.signed("GET", "/api/v3/account")
        statuses.append((status, headers.get("Retry-After")))
    assert [s for s, _ in statuses] == [200, 429, 429, 418, 418]
    assert statuses[3][1] == "30" and int(statuses[1][1]) >= 1
    async with venue.s.get(f"{venue.url}/api/v3/time") as resp:
        assert resp.status == 418 and (await resp.json())["code"] == -1003
    await venue.admin("/sim/v1/trading-fault", {"kind": "clear"})
    assert (await venue.signed("GET", "/api/v3/account"))[0] == 200


async def test_hold_then_release_reply_or_drop(venue: Venue) -> None:
    """hold (after): the order is placed, its reply waits until released; "reply" answers it,
    "drop" cuts the connection with the order placed; hold (before) + "drop": never placed."""
    await venue.admin("/sim/v1/trading-fault", {"kind": "hold", "count": 1})
    pending = asyncio.ensure_future(venue.buy(newClientOrderId="held-1"))
    held = (await venue.admin("/sim/v1/held?wait_s=5"))["held"]
    assert [(h["clientOrderId"], h["when"]) for h in held] == [("held-1", "after")]
    assert not pending.done() and (await venue.orders())[0]["status"] == "FILLED"
    assert (await venue.admin("/sim/v1/release", {"hold_id": held[0]["hold_id"],
                                                 "action": "reply"}))["released"] == 1
    status, body, _ = await pending
    assert status == 200 and body["orderId"] == held[0]["orderId"]

    await venue.admin("/sim/v1/trading-fault", {"kind": "hold", "count": 1})
    pending = asyncio.ensure_future(venue.buy(newClientOrderId="held-2"))
    await venue.admin("/sim/v1/held?wait_s=5")
    await venue.admin("/sim/v1/release", {"action": "drop"})
    with pytest.raises(aiohttp.ClientError):
        await pending
    assert (await venue.orders())[-1]["clientOrderId"] == "held-2"

    await venue.admin("/sim/v1/trading-fault", {"kind": "hold", "count": 1, "when": "before"})
    pending = asyncio.ensure_future(venue.buy(newClientOrderId="held-3"))
    assert (await venue.admin("/sim/v1/held?wait_s=5"))["held"][0]["orderId"] is None
    await venue.admin("/sim/v1/release", {"action": "drop"})
    with pytest.raises(aiohttp.ClientError):
        await pending
    assert "held-3" not in {o["clientOrderId"] for o in await venue.orders()}
    assert (await venue.admin("/sim/v1/held?wait_s=0"))["held"] == []


async def test_tick_to_order_marks_status_and_aliases(data: list[Path],
                                                      keys: VenueTestKeys) -> None:
    """/sim/v1/sent gives when a trade's frame went out, an order's receivedUs when its
    request arrived (the two ends of tick-to-order); /sim/v1/status counts the trading side;
    clock_skew and reset work as trading-fault kinds too."""
    sc = Scenario(market=MarketSettings(skip_s=250, speed=20))
    async with running(data, sc, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s, s.ws_connect(f"{sim.ws_url}/ws/evxbtc@aggTrade") as ws:
        venue = Venue(s, sim.rest_url, keys)
        frame = await asyncio.wait_for(ws.receive_json(), 5)
        sent = await venue.admin(f"/sim/v1/sent?symbol=EVXBTC&from_id={frame['a']}"
                                 f"&to_id={frame['a']}")
        tick_us = sent["sent_us"][str(frame["a"])]
        await venue.buy(newClientOrderId="t2o")
        order = (await venue.orders())[0]
        assert 0 < order["receivedUs"] - tick_us < 5_000_000
        status = await venue.admin("/sim/v1/status")
        assert (status["trading"]["orders"], status["trading"]["trades"]) == (1, 1)
        skewed = await venue.admin("/sim/v1/trading-fault", {"kind": "clock_skew", "ms": 9000})
        assert skewed == {"result": "ok"}
        assert (await venue.signed("GET", "/api/v3/account"))[1]["code"] == -1021
        await venue.admin("/sim/v1/trading-fault", {"kind": "clock_skew", "ms": 0})
        wiped = await venue.admin("/sim/v1/trading-fault", {"kind": "reset"})
        assert wiped == {"result": "ok", "orders_wiped": 1} and await venue.orders() == []
        bad = await venue.admin("/sim/v1/sent?symbol=NOPE")
        assert "error" in bad


async def test_request_held_past_its_recv_window_is_refused(venue: Venue) -> None:
    """A request held before placement and released once its recvWindow has passed (the
    venue's clock moved 10 s on) gets -1021 and is never placed: the second timing check."""
    await venue.admin("/sim/v1/trading-fault", {"kind": "hold", "when": "before"})
    pending = asyncio.ensure_future(venue.buy(newClientOrderId="stale-1"))
    await venue.admin("/sim/v1/held?wait_s=5")
    await venue.admin("/sim/v1/clock", {"skew_ms": 10_000})
    await venue.admin("/sim/v1/release", {"action": "reply"})
    status, body, _ = await pending
    assert (status, body["code"]) == (400, -1021)
    assert await venue.orders() == []


async def test_sim_admin_client(venue: Venue) -> None:
    """SimAdmin (blocking, standard library) reads the books and turns the knobs; a refusal
    raises SimAdminError with the stand-in's reason."""
    sim = SimAdmin(int(venue.url.rsplit(":", 1)[1]))
    await venue.buy(newClientOrderId="c-1")
    orders = await asyncio.to_thread(sim.orders, "main", "EVXBTC")
    assert [o["clientOrderId"] for o in orders] == ["c-1"]
    trades = await asyncio.to_thread(sim.trades)
    assert [t["orderId"] for t in trades] == [orders[0]["orderId"]]
    assert "main" in await asyncio.to_thread(sim.accounts)
    await asyncio.to_thread(sim.hold)
    pending = asyncio.ensure_future(venue.buy(newClientOrderId="c-2"))
    held = await asyncio.to_thread(sim.wait_held, 5)
    assert [h["clientOrderId"] for h in held] == ["c-2"]
    assert await asyncio.to_thread(sim.release, held[0]["hold_id"]) == 1
    assert (await pending)[0] == 200
    with pytest.raises(SimAdminError, match="kind: one of"):
        await asyncio.to_thread(sim.fault, "explode")
    assert await asyncio.to_thread(sim.reset) == 2


async def test_expire_in_match(venue: Venue) -> None:
    """expire_in_match: the next taker order is EXPIRED_IN_MATCH with nothing filled; the one
    after fills."""
    await venue.admin("/sim/v1/trading-fault", {"kind": "expire_in_match"})
    _, body, _ = await venue.buy()
    assert (body["status"], body["executedQty"], body["fills"]) == (
        "EXPIRED_IN_MATCH", "0.00000000", [])
    assert (await venue.buy())[1]["status"] == "FILLED"
    status, body, _ = await venue.signed("GET", "/api/v3/myTrades", symbol="EVXBTC",
                                         startTime=1, endTime=1 + 86_400_001)
    assert (status, body["code"]) == (400, -1127)
