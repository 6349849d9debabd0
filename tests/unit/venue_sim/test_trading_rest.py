"""The stand-in's SIGNED REST endpoints over HTTP (in-process server): signature and timing
refusals with the venue's codes and statuses, order responses by newOrderRespType, queries,
order-count headers and 429, apiRestrictions, and the /sim/v1 books, reset and clock skew."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from hope.venue_sim.scenario import MarketSettings, Scenario, TradingSettings
from hope.venue_sim.signing import load_key_dir
from hope.venue_sim.testing import (
    ManualClock,
    VenueTestKeys,
    generate_test_keys,
    running,
    signed_query,
    steady_trades,
    write_trades,
)


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    now = time.time()
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv",
                         steady_trades(400, now - 300, 1.0))]


@pytest.fixture
def keys(tmp_path: Path) -> VenueTestKeys:
    return generate_test_keys(tmp_path)


class Client:
    """Signed requests to a running stand-in, as a client library sends them."""

    def __init__(self, session: aiohttp.ClientSession, url: str, keys: VenueTestKeys,
                 clock: Callable[[], float] = time.time) -> None:
        self.session, self.url, self.keys, self.clock = session, url, keys, clock

    async def call(self, method: str, path: str, *, ts_offset_ms: int = 0,
                   in_body: bool = False, **params: Any) -> tuple[int, Any, dict]:
        params.setdefault("timestamp", int(self.clock() * 1000) + ts_offset_ms)
        query = signed_query(params, self.keys)
        headers = {"X-MBX-APIKEY": self.keys.api_key}
        if in_body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            req = self.session.request(method, self.url + path, data=query, headers=headers)
        else:
            # encoded=True: sent exactly as signed (yarl would otherwise normalise %3A to ':')
            req = self.session.request(method, URL(f"{self.url}{path}?{query}", encoded=True),
                                       headers=headers)
        async with req as resp:
            return resp.status, await resp.json(content_type=None), dict(resp.headers)


def scenario(**trading: Any) -> Scenario:
    """The first 250 of the 400 trades are history: the market has volume on offer at once."""
    return Scenario(market=MarketSettings(skip_s=250), trading=TradingSettings(**trading))


async def test_refusals_have_the_venues_codes(data: list[Path], keys: VenueTestKeys) -> None:
    """Unknown key 401/-2015, bad signature 400/-1022, stale or early timestamp -1021, a
    duplicate parameter -1101, an unknown symbol -1121."""
    async with running(data, scenario(), keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        c = Client(s, sim.rest_url, keys)
        status, body, _ = await c.call("GET", "/api/v3/account", ts_offset_ms=-6000)
        assert (status, body["code"]) == (400, -1021)
        status, body, _ = await c.call("GET", "/api/v3/account", ts_offset_ms=-6000,
                                       recvWindow=10000)
        assert status == 200
        assert (await c.call("GET", "/api/v3/account", ts_offset_ms=3000))[1]["code"] == -1021
        async with s.get(f"{sim.rest_url}/api/v3/account?timestamp=1&signature=00",
                         headers={"X-MBX-APIKEY": "A" * 64}) as resp:
            assert (resp.status, (await resp.json())["code"]) == (401, -2015)
        url = f"{sim.rest_url}/api/v3/account?timestamp={int(time.time() * 1000)}&signature=00"
        async with s.get(url, headers={"X-MBX-APIKEY": keys.api_key}) as resp:
            assert (resp.status, await resp.json()) == (
                400, {"code": -1022, "msg": "Signature for this request is not valid."})
        status, body, _ = await c.call("GET", "/api/v3/openOrders", symbol="NOPEBTC")
        assert (status, body["code"]) == (400, -1121)
        dup = signed_query({"timestamp": int(time.time() * 1000)}, keys)
        async with s.get(f"{sim.rest_url}/api/v3/account?timestamp=1&{dup}",
                         headers={"X-MBX-APIKEY": keys.api_key}) as resp:
            assert (await resp.json())["code"] == -1101


async def test_order_lifecycle_over_http(data: list[Path], keys: VenueTestKeys) -> None:
    """ACK/RESULT/FULL responses, form-body parameters, query by either id, openOrders,
    cancel, allOrders and myTrades with fromId and limit, the order-count headers."""
    async with running(data, scenario(), keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        c = Client(s, sim.rest_url, keys)
        common = {"symbol": "EVXBTC", "side": "BUY", "type": "MARKET", "quantity": "100"}
        status, ack, headers = await c.call("POST", "/api/v3/order", newOrderRespType="ACK",
                                            newClientOrderId="hope-a", **common)
        assert status == 200 and set(ack) == {"symbol", "orderId", "orderListId",
                                              "clientOrderId", "transactTime"}
        assert headers["X-MBX-ORDER-COUNT-10S"] == "1" and "X-MBX-ORDER-COUNT-1D" in headers
        _, result, _ = await c.call("POST", "/api/v3/order", newOrderRespType="RESULT",
                                    in_body=True, **common)
        assert result["status"] == "FILLED" and "fills" not in result
        _, full, _ = await c.call("POST", "/api/v3/order", **common)
        assert [set(f) for f in full["fills"]] == [{"price", "qty", "commission",
                                                    "commissionAsset", "tradeId"}]
        _, by_cid, _ = await c.call("GET", "/api/v3/order", symbol="EVXBTC",
                                    origClientOrderId="hope-a")
        assert by_cid["orderId"] == ack["orderId"] and by_cid["status"] == "FILLED"
        status, missing, _ = await c.call("GET", "/api/v3/order", symbol="EVXBTC",
                                          origClientOrderId="nope")
        assert (status, missing) == (400, {"code": -2013, "msg": "Order does not exist."})
        _, rest, _ = await c.call("POST", "/api/v3/order", symbol="EVXBTC", side="BUY",
                                  type="LIMIT", timeInForce="GTC", quantity="100",
                                  price="0.00000500")
        _, opened, _ = await c.call("GET", "/api/v3/openOrders", symbol="EVXBTC")
        assert [o["orderId"] for o in opened] == [rest["orderId"]]
        _, cancelled, _ = await c.call("DELETE", "/api/v3/order", symbol="EVXBTC",
                                       orderId=rest["orderId"])
        assert cancelled["status"] == "CANCELED"
        _, every, _ = await c.call("GET", "/api/v3/allOrders", symbol="EVXBTC",
                                   orderId=ack["orderId"] + 1, limit=2)
        assert [o["orderId"] for o in every] == [ack["orderId"] + 1, ack["orderId"] + 2]
        _, trades, _ = await c.call("GET", "/api/v3/myTrades", symbol="EVXBTC")
        assert len(trades) == 3
        _, tail, _ = await c.call("GET", "/api/v3/myTrades", symbol="EVXBTC",
                                  fromId=trades[1]["id"], limit=1)
        assert [t["id"] for t in tail] == [trades[1]["id"]]
        status, test, _ = await c.call("POST", "/api/v3/order/test", **common)
        assert (status, test) == (200, {})
        _, books, _ = await c.call("GET", "/api/v3/allOrders", symbol="EVXBTC")
        assert len(books) == 4                                  # /order/test books nothing


async def test_order_rate_limit_and_restrictions(data: list[Path], keys: VenueTestKeys) -> None:
    """The unfilled order count: a filled order is given back, unfilled ones add up; past
    ORDERS per 10 s: 429, -1015, Retry-After; exchangeInfo shows the limit; apiRestrictions
    reports enableWithdrawals as configured."""
    sc = scenario(orders_per_10s=2, enable_withdrawals=True)
    clock = ManualClock(time.time())       # held still: no 10 s window ends mid-test
    async with running(data, sc, keys=[load_key_dir(keys.directory)], clock=clock) as sim, \
            aiohttp.ClientSession() as s:
        c = Client(s, sim.rest_url, keys, clock)
        market = {"symbol": "EVXBTC", "side": "BUY", "type": "MARKET", "quantity": "100"}
        resting = {"symbol": "EVXBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                   "quantity": "100", "price": "0.00000500"}
        for _ in range(3):                 # filled orders are given back: never limited
            status, _, headers = await c.call("POST", "/api/v3/order", **market)
            assert (status, headers["X-MBX-ORDER-COUNT-10S"]) == (200, "1")
        for n in ("1", "2"):
            status, _, headers = await c.call("POST", "/api/v3/order", **resting)
            assert (status, headers["X-MBX-ORDER-COUNT-10S"]) == (200, n)
        status, body, headers = await c.call("POST", "/api/v3/order", **resting)
        assert (status, body["code"]) == (429, -1015) and int(headers["Retry-After"]) >= 1
        async with s.get(f"{sim.rest_url}/api/v3/exchangeInfo") as resp:
            limits = (await resp.json())["rateLimits"]
        assert {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                "limit": 2} in limits
        _, restrictions, _ = await c.call("GET", "/sapi/v1/account/apiRestrictions")
        assert restrictions["enableWithdrawals"] is True


async def test_admin_books_reset_and_clock_skew(data: list[Path], tmp_path: Path) -> None:
    """/sim/v1 lists every order with its fills and every trade, an Ed25519 key trades too,
    a reset wipes the books, a clock skew moves /time and the recvWindow check."""
    ed = generate_test_keys(tmp_path / "ed", "ed25519")
    async with running(data, scenario(), keys=[load_key_dir(ed.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        c = Client(s, sim.rest_url, ed)
        _, placed, _ = await c.call("POST", "/api/v3/order", symbol="EVXBTC", side="BUY",
                                    type="MARKET", quoteOrderQty="0.001",
                                    newClientOrderId="hope-x")
        async with s.get(f"{sim.rest_url}/sim/v1/orders") as resp:
            orders = (await resp.json())["orders"]
        assert [(o["clientOrderId"], o["status"]) for o in orders] == [("hope-x", "FILLED")]
        assert orders[0]["fills"][0]["id"] == placed["fills"][0]["tradeId"]
        async with s.get(f"{sim.rest_url}/sim/v1/trades?symbol=EVXBTC") as resp:
            assert len((await resp.json())["trades"]) == 1
        async with s.get(f"{sim.rest_url}/sim/v1/accounts") as resp:
            assets = {b["asset"] for b in (await resp.json())["accounts"]["main"]}
        assert assets == {"BTC", "EVX"}
        async with s.post(f"{sim.rest_url}/sim/v1/clock", json={"skew_ms": 30_000}) as resp:
            assert resp.status == 200
        async with s.get(f"{sim.rest_url}/api/v3/time") as resp:
            assert (await resp.json())["serverTime"] > time.time() * 1000 + 25_000
        assert (await c.call("GET", "/api/v3/account"))[1]["code"] == -1021
        assert (await c.call("GET", "/api/v3/account", ts_offset_ms=30_000))[0] == 200
        async with s.post(f"{sim.rest_url}/sim/v1/reset", json={}) as resp:
            assert (await resp.json()) == {"result": "ok", "orders_wiped": 1}
        async with s.get(f"{sim.rest_url}/sim/v1/orders") as resp:
            assert (await resp.json())["orders"] == []
        async with s.post(f"{sim.rest_url}/sim/v1/clock", json={"skew_ms": "x"}) as resp:
            assert resp.status == 400


async def test_cancel_all_and_unfilled_order_count(data: list[Path], keys: VenueTestKeys) -> None:
    """DELETE /openOrders cancels every open order of the symbol (then -2011: none left); an
    IOC that cannot fill is EXPIRED with its expiryReason; /rateLimit/order reports the ORDERS
    counts (unfilled orders: none given back); a symbol in BREAK refuses orders."""
    clock = ManualClock(time.time())       # held still: no 10 s window ends mid-test
    async with running(data, scenario(), keys=[load_key_dir(keys.directory)],
                       clock=clock) as sim, aiohttp.ClientSession() as s:
        c = Client(s, sim.rest_url, keys, clock)
        for cid in ("r-1", "r-2"):
            await c.call("POST", "/api/v3/order", symbol="EVXBTC", side="BUY", type="LIMIT",
                         timeInForce="GTC", quantity="100", price="0.00000500",
                         newClientOrderId=cid)
        _, cancelled, _ = await c.call("DELETE", "/api/v3/openOrders", symbol="EVXBTC")
        assert [(o["origClientOrderId"], o["status"]) for o in cancelled] == [
            ("r-1", "CANCELED"), ("r-2", "CANCELED")]
        status, body, _ = await c.call("DELETE", "/api/v3/openOrders", symbol="EVXBTC")
        assert (status, body["code"]) == (400, -2011)
        _, ioc, _ = await c.call("POST", "/api/v3/order", symbol="EVXBTC", side="BUY",
                                 type="LIMIT", timeInForce="IOC", quantity="100",
                                 price="0.00000500")
        assert (ioc["status"], ioc["expiryReason"]) == ("EXPIRED",
                                                        "UNFILLED_IOC_QUANTITY_EXPIRED")
        _, counts, _ = await c.call("GET", "/api/v3/rateLimit/order")
        assert [(r["interval"], r["count"]) for r in counts] == [("SECOND", 3), ("DAY", 3)]
        sim.info.set_status("EVXBTC", "BREAK")
        status, body, _ = await c.call("POST", "/api/v3/order", symbol="EVXBTC", side="BUY",
                                       type="MARKET", quantity="100")
        assert body == {"code": -2010, "msg": "Market is closed."}


async def test_signature_is_over_the_query_as_sent(data: list[Path], keys: VenueTestKeys) -> None:
    """The payload is the query string as sent, percent-encoding and all: a client order id
    with ':' and '/' (encoded by the client before signing) verifies, in the query or the body."""
    async with running(data, scenario(), keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        c = Client(s, sim.rest_url, keys)
        for cid, in_body in (("a:b/c.1", False), ("a:b/c.2", True)):
            status, body, _ = await c.call("POST", "/api/v3/order", in_body=in_body,
                                           symbol="EVXBTC", side="BUY", type="MARKET",
                                           quantity="100", newClientOrderId=cid)
            assert status == 200, body
            assert body["clientOrderId"] == cid
