"""The stand-in's WebSocket API (in-process server): time/ping, userDataStream.subscribe.signature
with executionReport events in the subscriptionId envelope, session.logon with Ed25519, the
refusals, unsubscribe, and the stream cut mid-fill."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from hope.venue_sim.scenario import MarketSettings, Scenario
from hope.venue_sim.signing import hmac_signature, load_key_dir, ws_payload
from hope.venue_sim.testing import (
    VenueTestKeys,
    generate_test_keys,
    running,
    signed_query,
    steady_trades,
    write_trades,
)

REPORT_FIELDS = set("cCixXrlLzZnNt") | set("ESsoqp")


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv",
                         steady_trades(400, time.time() - 300, 1.0))]


SCENARIO = Scenario(market=MarketSettings(skip_s=250))


def ws_signed(keys: VenueTestKeys, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"apiKey": keys.api_key, "timestamp": int(time.time() * 1000),
                              **extra}
    payload = ws_payload(params)
    if keys.secret is not None:
        params["signature"] = hmac_signature(keys.secret, payload)
    else:
        assert keys.private_key_path is not None
        private = load_pem_private_key(keys.private_key_path.read_bytes(), password=None)
        params["signature"] = base64.b64encode(private.sign(payload.encode())).decode()
    return params


async def call(ws: aiohttp.ClientWebSocketResponse, req_id: Any, method: str,
               params: dict | None = None) -> dict[str, Any]:
    """Send one request; the response with that id (events before it are skipped)."""
    body: dict[str, Any] = {"id": req_id, "method": method}
    if params is not None:
        body["params"] = params
    await ws.send_json(body)
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        if msg.get("id") == req_id and "status" in msg:
            return msg


async def events(ws: aiohttp.ClientWebSocketResponse, n: int, kind: str = "executionReport"
                 ) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        if msg.get("event", {}).get("e") == kind:
            out.append(msg)
    return out


async def place(session: aiohttp.ClientSession, url: str, keys: VenueTestKeys,
                **params: Any) -> dict[str, Any]:
    query = signed_query({"symbol": "EVXBTC", "side": "BUY", "type": "MARKET",
                          "quantity": "100", "timestamp": int(time.time() * 1000), **params},
                         keys)
    async with session.post(f"{url}/api/v3/order?{query}",
                            headers={"X-MBX-APIKEY": keys.api_key}) as resp:
        return await resp.json(content_type=None)


async def test_time_ping_and_refusals(data: list[Path], tmp_path: Path) -> None:
    """time and ping answer in the envelope with rateLimits; a bad frame, an unknown method, a
    bad signature and an HMAC logon are refused with status and code; the ban knob reaches
    the WebSocket API too (429, then 418 with retryAfter)."""
    keys = generate_test_keys(tmp_path)
    async with running(data, SCENARIO, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s, s.ws_connect(f"{sim.ws_url}/ws-api/v3") as ws:
        t = await call(ws, 1, "time")
        assert t["status"] == 200 and abs(t["result"]["serverTime"] - time.time() * 1000) < 5000
        assert t["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
        assert (await call(ws, "p", "v3/ping"))["result"] == {}
        await ws.send_str("not json")
        bad = await asyncio.wait_for(ws.receive_json(), 5)
        assert (bad["id"], bad["status"], bad["error"]["code"]) == (None, 400, -1102)
        assert (await call(ws, 2, "order.nope"))["error"]["code"] == -1100
        forged = {**ws_signed(keys), "signature": "0" * 64}
        res = await call(ws, 3, "userDataStream.subscribe.signature", forged)
        assert (res["status"], res["error"]["code"]) == (400, -1022)
        res = await call(ws, 4, "session.logon", ws_signed(keys))
        assert res["error"]["code"] == -4056
        res = await call(ws, 5, "userDataStream.subscribe")
        assert (res["status"], res["error"]["code"]) == (401, -2015)
        async with s.post(f"{sim.rest_url}/sim/v1/trading-fault",
                          json={"kind": "ban", "count_429": 1, "ban_s": 30}) as resp:
            assert resp.status == 200
        limited, banned = await call(ws, 6, "ping"), await call(ws, 7, "ping")
        assert (limited["status"], limited["error"]["code"]) == (429, -1003)
        data = banned["error"]["data"]
        assert banned["status"] == 418 and data["retryAfter"] - data["serverTime"] == 30_000
        closed = await asyncio.wait_for(ws.receive(), 5)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_signature_subscription_gets_execution_reports(data: list[Path],
                                                             tmp_path: Path) -> None:
    """A signature subscription receives NEW then TRADE executionReports of a MARKET order,
    carrying the order's ids, the fill and its fee; unsubscribing ends the stream."""
    keys = generate_test_keys(tmp_path)
    async with running(data, SCENARIO, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s, s.ws_connect(f"{sim.ws_url}/ws-api/v3") as ws:
        res = await call(ws, 1, "userDataStream.subscribe.signature", ws_signed(keys))
        assert res == {"id": 1, "status": 200, "result": {"subscriptionId": 0},
                       "rateLimits": res["rateLimits"]}
        again = await call(ws, 2, "userDataStream.subscribe.signature", ws_signed(keys))
        assert again["error"]["code"] == -2035
        placed = await place(s, sim.rest_url, keys, newClientOrderId="hope-ws-1")
        new, trade = await events(ws, 2)
        assert new["subscriptionId"] == 0 and set(new["event"]) >= REPORT_FIELDS
        assert (new["event"]["x"], new["event"]["X"], new["event"]["c"]) == (
            "NEW", "NEW", "hope-ws-1")
        ev, fill = trade["event"], placed["fills"][0]
        assert (ev["x"], ev["X"], ev["i"], ev["t"]) == ("TRADE", "FILLED", placed["orderId"],
                                                        fill["tradeId"])
        assert (ev["l"], ev["L"], ev["n"], ev["N"]) == (fill["qty"], fill["price"],
                                                        fill["commission"], "BTC")
        assert ev["z"] == placed["executedQty"] and ev["Z"] == placed["cummulativeQuoteQty"]
        assert (await call(ws, 3, "session.subscriptions"))["result"] == [{"subscriptionId": 0}]
        assert (await call(ws, 4, "userDataStream.unsubscribe",
                           {"subscriptionId": 0}))["result"] == {}
        assert (await events(ws, 1, "eventStreamTerminated"))[0]["subscriptionId"] == 0


async def test_ed25519_session_logon_then_subscribe(data: list[Path], tmp_path: Path) -> None:
    """session.logon with an Ed25519 key, then userDataStream.subscribe; session.status shows
    it; a cancel is reported with C = the cancelled order's client id."""
    keys = generate_test_keys(tmp_path, "ed25519")
    async with running(data, SCENARIO, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s, s.ws_connect(f"{sim.ws_url}/ws-api/v3") as ws:
        logon = await call(ws, 1, "session.logon", ws_signed(keys))
        assert logon["result"]["apiKey"] == keys.api_key
        assert (await call(ws, 2, "userDataStream.subscribe"))["result"] == {"subscriptionId": 0}
        assert (await call(ws, 3, "session.status"))["result"]["userDataStream"] is True
        placed = await place(s, sim.rest_url, keys, type="LIMIT", timeInForce="GTC",
                             price="0.00000500", newClientOrderId="rest-1")
        query = signed_query({"symbol": "EVXBTC", "orderId": placed["orderId"],
                              "newClientOrderId": "cxl-1",
                              "timestamp": int(time.time() * 1000)}, keys)
        async with s.delete(f"{sim.rest_url}/api/v3/order?{query}",
                            headers={"X-MBX-APIKEY": keys.api_key}) as resp:
            assert (await resp.json())["status"] == "CANCELED"
        _, cancel = await events(ws, 2)
        assert (cancel["event"]["x"], cancel["event"]["c"], cancel["event"]["C"]) == (
            "CANCELED", "cxl-1", "rest-1")
        await call(ws, 4, "session.logout")
        assert (await events(ws, 1, "eventStreamTerminated"))[0]["subscriptionId"] == 0


async def test_stream_drop_mid_fill(data: list[Path], tmp_path: Path) -> None:
    """The stream_drop knob cuts the subscribed connection after one event: the NEW arrives,
    the TRADE never does on that connection, and the fill is in /myTrades."""
    keys = generate_test_keys(tmp_path)
    async with running(data, SCENARIO, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s, s.ws_connect(f"{sim.ws_url}/ws-api/v3") as ws:
        await call(ws, 1, "userDataStream.subscribe.signature", ws_signed(keys))
        async with s.post(f"{sim.rest_url}/sim/v1/trading-fault",
                          json={"kind": "stream_drop", "after_events": 1}) as resp:
            assert (await resp.json()) == {"result": "ok", "connections": 1}
        placed = await place(s, sim.rest_url, keys)
        got = []
        while True:
            msg = await asyncio.wait_for(ws.receive(), 5)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            got.append(msg.json().get("event", {}).get("x"))
        assert "NEW" in got and "TRADE" not in got
        query = signed_query({"symbol": "EVXBTC", "timestamp": int(time.time() * 1000)}, keys)
        async with s.get(f"{sim.rest_url}/api/v3/myTrades?{query}",
                         headers={"X-MBX-APIKEY": keys.api_key}) as resp:
            assert [t["orderId"] for t in await resp.json()] == [placed["orderId"]]


async def test_stream_drop_now(data: list[Path], tmp_path: Path) -> None:
    """stream_drop with after_events 0 cuts every subscribed connection at once, and only
    those: an unsubscribed connection stays."""
    keys = generate_test_keys(tmp_path)
    async with running(data, SCENARIO, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s, s.ws_connect(f"{sim.ws_url}/ws-api/v3") as ws, \
            s.ws_connect(f"{sim.ws_url}/ws-api/v3") as idle:
        await call(ws, 1, "userDataStream.subscribe.signature", ws_signed(keys))
        async with s.post(f"{sim.rest_url}/sim/v1/trading-fault",
                          json={"kind": "stream_drop", "after_events": 0}) as resp:
            assert (await resp.json())["connections"] == 1
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR,
                            aiohttp.WSMsgType.CLOSE)
        assert (await call(idle, 2, "ping"))["status"] == 200


async def test_outage_cuts_the_user_stream(data: list[Path], tmp_path: Path) -> None:
    """An outage cuts WebSocket API connections and refuses new ones (503) until it ends."""
    keys = generate_test_keys(tmp_path)
    async with running(data, SCENARIO, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        async with s.ws_connect(f"{sim.ws_url}/ws-api/v3") as ws:
            await call(ws, 1, "userDataStream.subscribe.signature", ws_signed(keys))
            async with s.post(f"{sim.rest_url}/sim/v1/fault",
                              json={"kind": "outage", "seconds": 0.5}) as resp:
                assert resp.status == 200
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type != aiohttp.WSMsgType.TEXT
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await s.ws_connect(f"{sim.ws_url}/ws-api/v3")
        assert refused.value.status == 503
        deadline = time.monotonic() + 10
        while True:
            try:
                async with s.ws_connect(f"{sim.ws_url}/ws-api/v3") as again:
                    assert (await call(again, 2, "ping"))["status"] == 200
                    break
            except aiohttp.WSServerHandshakeError:
                assert time.monotonic() < deadline, "still refused 10 s after the outage"
                await asyncio.sleep(0.05)


async def test_server_shutdown_event(data: list[Path], tmp_path: Path) -> None:
    """The shutdown fault on demand sends {"event": {"e": "serverShutdown"}} on the WebSocket
    API, then closes the connection after the grace period."""
    keys = generate_test_keys(tmp_path)
    sc = Scenario(market=MarketSettings(skip_s=250))
    sc.ws.shutdown_grace_s = 0.2
    async with running(data, sc, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s, s.ws_connect(f"{sim.ws_url}/ws-api/v3") as ws:
        async with s.post(f"{sim.rest_url}/sim/v1/fault", json={"kind": "shutdown"}) as resp:
            assert resp.status == 200
        event = await asyncio.wait_for(ws.receive_json(), 5)
        assert event["event"]["e"] == "serverShutdown" and "subscriptionId" not in event
        closed = await asyncio.wait_for(ws.receive(), 5)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
