"""Protective stops at the stand-in: a STOP_LOSS_LIMIT placed after a BUY (inside the venue's
filters, its base asset locked), cancelled before an exit; in a falling market the venue
triggers and fills it, and clearing it reports the position closed by the stop, no SELL."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hope.venue.stop_driver import StopDriver
from hope.venue.stops import ClosedByStop, ExitAllowed, plan_stop
from hope.venue_sim.scenario import MarketSettings, Scenario
from hope.venue_sim.signing import load_key_dir
from hope.venue_sim.testing import (
    VenueTestKeys,
    generate_test_keys,
    running,
    signed_query,
    write_trades,
)

pytestmark = pytest.mark.integration
POS = "hope-5a7c0ffee0ddba11"


class VenueAnswer(Exception):
    """A non-2xx answer, typed as HOPE's error taxonomy types it."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status} {body}")
        self.code = body.get("code") if isinstance(body, dict) else None
        self.outcome = "unknown" if status >= 500 else "refused"


class Rest:
    def __init__(self, s: aiohttp.ClientSession, url: str, keys: VenueTestKeys) -> None:
        self.s, self.url, self.keys = s, url, keys

    async def call(self, method: str, path: str, **params: Any) -> Any:
        query = signed_query({**params, "timestamp": int(time.time() * 1000)}, self.keys)
        async with self.s.request(method, f"{self.url}{path}?{query}",
                                  headers={"X-MBX-APIKEY": self.keys.api_key}) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200:
                raise VenueAnswer(resp.status, body)
            return body

    async def place(self, params: dict[str, str]) -> dict[str, Any]:
        return await self.call("POST", "/api/v3/order", **params)

    async def cancel(self, symbol: str, cid: str) -> dict[str, Any] | None:
        try:
            return await self.call("DELETE", "/api/v3/order", symbol=symbol,
                                   origClientOrderId=cid)
        except VenueAnswer as exc:
            if exc.code in (-2011, -2013):
                return None
            raise

    async def query(self, symbol: str, cid: str) -> dict[str, Any] | None:
        try:
            return await self.call("GET", "/api/v3/order", symbol=symbol,
                                   origClientOrderId=cid)
        except VenueAnswer as exc:
            if exc.code == -2013:
                return None
            raise


class Rules:
    """EVXBTC's filters as the stand-in's exchangeInfo states them."""

    def __init__(self, info: dict[str, Any]) -> None:
        f = {x["filterType"]: x for x in info["symbols"][0]["filters"]}
        self.symbol = "EVXBTC"
        self.tick_size = Decimal(f["PRICE_FILTER"]["tickSize"])
        self.min_price = Decimal(f["PRICE_FILTER"]["minPrice"])
        self.max_price = Decimal(f["PRICE_FILTER"]["maxPrice"])
        self.step_size = Decimal(f["LOT_SIZE"]["stepSize"])
        self.min_qty = Decimal(f["LOT_SIZE"]["minQty"])
        self.max_qty = Decimal(f["LOT_SIZE"]["maxQty"])
        self.min_notional = Decimal(f["NOTIONAL"]["minNotional"])
        self.base_precision = 8


def tape(tmp_path: Path, falling: bool) -> list[Path]:
    """250 s of history around 0.00001, then a trade every 0.5 s, falling 0.2 % each (or
    flat); prices with 8-decimal ticks (the stand-in derives its tick from the data)."""
    now = time.time()
    rows = [(now - 250 + i, 0.00001 + (i % 3) * 1e-8, 50.0, i % 2 == 0) for i in range(250)]
    rows += [(now + 0.5 * i, round(0.00001 * (0.998 ** i if falling else 1.0) + 1e-8, 8),
              50.0, False) for i in range(1, 400)]
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", rows)]


async def _buy_and_protect(tmp_path: Path, falling: bool, body) -> None:
    keys = generate_test_keys(tmp_path)
    async with running(tape(tmp_path, falling), Scenario(market=MarketSettings(skip_s=250)),
                       keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        rest = Rest(s, sim.rest_url, keys)
        async with s.get(f"{sim.rest_url}/api/v3/exchangeInfo") as resp:
            rules = Rules(await resp.json())
        buy = await rest.place({"symbol": "EVXBTC", "side": "BUY", "type": "MARKET",
                                "quoteOrderQty": "0.002", "newClientOrderId": POS,
                                "newOrderRespType": "FULL"})
        held = Decimal(buy["executedQty"])
        entry = Decimal(buy["cummulativeQuoteQty"]) / held
        d = StopDriver(tmp_path / "venue" / "stops.jsonl", place=rest.place,
                       cancel=rest.cancel, query=rest.query, grace_s=10)
        plan = plan_stop(rules, POS, held, entry * Decimal("0.995"),
                         limit_offset_pct=Decimal("1"), last_price=entry)
        try:
            assert await d.protect(POS, "EVXBTC", plan) is None
            assert d.stops[POS].state == "active"
            await body(rest, d, held, s, sim.rest_url)
        finally:
            d.close()


async def test_a_stop_is_placed_locked_and_cancelled_before_the_exit(tmp_path):
    """Flat market: the stop rests (base asset locked); clearing it cancels it, then the exit
    SELL of the whole position goes through."""
    async def body(rest: Rest, d: StopDriver, held: Decimal, s, url) -> None:
        [open_order] = await rest.call("GET", "/api/v3/openOrders", symbol="EVXBTC")
        assert open_order["type"] == "STOP_LOSS_LIMIT" and open_order["clientOrderId"] == \
            POS + "-s1"
        account = await rest.call("GET", "/api/v3/account")
        evx = next(b for b in account["balances"] if b["asset"] == "EVX")
        assert Decimal(evx["locked"]) == held
        assert await d.clear(POS, "take_profit") == ExitAllowed("take_profit")
        assert await rest.call("GET", "/api/v3/openOrders", symbol="EVXBTC") == []
        sell = await rest.place({"symbol": "EVXBTC", "side": "SELL", "type": "MARKET",
                                 "quantity": str(held), "newClientOrderId": POS + "-x"})
        assert sell["status"] == "FILLED"

    await _buy_and_protect(tmp_path, False, body)


async def test_in_a_falling_market_the_venue_sells_and_no_exit_is_sent(tmp_path):
    """The price falls through the stop: the venue fills it; clearing reports ClosedByStop."""
    async def body(rest: Rest, d: StopDriver, held: Decimal, s, url) -> None:
        deadline = time.monotonic() + 30
        while True:
            o = await rest.query("EVXBTC", POS + "-s1")
            if o is not None and o["status"] == "FILLED":
                break
            assert time.monotonic() < deadline, f"stop not filled: {o}"
            await asyncio.sleep(0.2)   # polling the venue's state with a deadline
        action = await d.clear(POS, "timeout")
        assert isinstance(action, ClosedByStop)
        trades = await rest.call("GET", "/api/v3/myTrades", symbol="EVXBTC")
        sold = sum(Decimal(t["qty"]) for t in trades if not t["isBuyer"])
        assert sold == held

    await _buy_and_protect(tmp_path, True, body)
