"""Stand-in streams, driven by a third-party client (websockets): combined wrapping, raw
streams, SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS and their errors, pings the client must
answer, the 5 messages/s limit, the stream limit, the connection's maximum age."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
import websockets

from hope.testing import async_wait_for
from hope.venue_sim.scenario import MarketSettings, Scenario, WsSettings
from hope.venue_sim.testing import ManualClock, running, steady_trades, write_trades

T0 = 1_600_000_000.0


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", steady_trades(20, T0)),
            write_trades(tmp_path / "binance_GVTBTC_aggtrades.csv", steady_trades(20, T0))]


async def recv_json(ws: websockets.ClientConnection, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_combined_stream_wraps_each_trade(data: list[Path]) -> None:
    """/stream?streams=a/b sends {"stream", "data"} with the aggTrade payload, ids in order."""
    clock = ManualClock()
    async with running(data, clock=clock) as sim:
        url = f"{sim.ws_url}/stream?streams=evxbtc@aggTrade/gvtbtc@aggTrade"
        async with websockets.connect(url) as ws:
            await async_wait_for(lambda: sim.streams.connections, message="connection")
            clock.advance(2)
            sim.publisher.poke()
            got = [await recv_json(ws) for _ in range(4)]
        by_stream: dict[str, list[int]] = {}
        for msg in got:
            assert set(msg) == {"stream", "data"}
            by_stream.setdefault(msg["stream"], []).append(msg["data"]["a"])
        assert by_stream == {"evxbtc@aggTrade": [2, 3], "gvtbtc@aggTrade": [2, 3]}
        data0 = got[0]["data"]
        assert set(data0) == {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"}
        assert data0["e"] == "aggTrade" and data0["s"] in ("EVXBTC", "GVTBTC")
        assert isinstance(data0["p"], str) and isinstance(data0["q"], str)


async def test_raw_stream_and_control_messages(data: list[Path]) -> None:
    """Raw /ws/<stream> sends bare payloads; SUBSCRIBE, LIST, UNSUBSCRIBE and errors as documented."""
    clock = ManualClock()
    async with running(data, clock=clock) as sim, \
            websockets.connect(f"{sim.ws_url}/ws/evxbtc@aggTrade") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["gvtbtc@aggTrade"],
                                  "id": 1}))
        assert await recv_json(ws) == {"result": None, "id": 1}
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        assert await recv_json(ws) == {"result": ["evxbtc@aggTrade", "gvtbtc@aggTrade"],
                                       "id": 3}
        await ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["evxbtc@aggTrade"],
                                  "id": 312}))
        assert await recv_json(ws) == {"result": None, "id": 312}
        await ws.send("{not json")
        assert (await recv_json(ws))["code"] == 3
        await asyncio.sleep(1.0)            # stay under 5 messages per second
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["EVX BTC"], "id": 2}))
        assert await recv_json(ws) == {"code": 2, "msg": "Invalid request: invalid stream"}
        await ws.send(json.dumps({"method": "PING", "id": 4}))
        assert (await recv_json(ws))["msg"].startswith("Invalid request: unknown variant")
        await ws.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"],
                                  "id": 5}))
        assert await recv_json(ws) == {"result": False, "id": 5}
        clock.advance(1)
        sim.publisher.poke()
        msg = await recv_json(ws)
        assert msg["e"] == "aggTrade" and msg["s"] == "GVTBTC" and msg["a"] == 2


async def test_more_than_five_messages_per_second_disconnects(data: list[Path]) -> None:
    """The sixth control message inside one second closes the connection (1008)."""
    async with running(data) as sim, \
            websockets.connect(f"{sim.ws_url}/ws") as ws:
        for i in range(6):
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(10):
                await recv_json(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert sim.streams.closed_for_rate == 1


async def test_stream_limit_per_connection(data: list[Path]) -> None:
    """A subscription that passes the per-connection stream limit is refused as a whole."""
    sc = Scenario(ws=WsSettings(max_streams=2))
    async with running(data, sc) as sim, \
            websockets.connect(f"{sim.ws_url}/stream?streams=evxbtc@aggTrade") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "id": 1,
                                  "params": ["gvtbtc@aggTrade", "abcbtc@aggTrade"]}))
        reply = await recv_json(ws)
        assert reply["code"] == 2 and "at most 2 streams" in reply["msg"]
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        assert (await recv_json(ws))["result"] == ["evxbtc@aggTrade"]


async def test_server_pings_and_drops_a_client_that_never_pongs(data: list[Path]) -> None:
    """The server pings on its interval; a client echoing the payload stays, a silent one is closed."""
    sc = Scenario(ws=WsSettings(ping_interval_s=0.3, pong_timeout_s=1.0))
    async with running(data, sc) as sim, aiohttp.ClientSession() as s:
        answering = await s.ws_connect(f"{sim.ws_url}/ws", autoping=False)
        silent = await s.ws_connect(f"{sim.ws_url}/ws", autoping=False)
        pings = 0

        async def answer() -> None:
            nonlocal pings
            while True:
                msg = await answering.receive()
                if msg.type != aiohttp.WSMsgType.PING:
                    return
                pings += 1
                await answering.pong(msg.data)

        answerer = asyncio.create_task(answer())
        try:
            kinds = []
            while True:
                msg = await asyncio.wait_for(silent.receive(), 5)
                kinds.append(msg.type)
                if msg.type != aiohttp.WSMsgType.PING:
                    break
            assert kinds[0] == aiohttp.WSMsgType.PING and msg.type == aiohttp.WSMsgType.CLOSE
            assert silent.close_code == 1008
            assert pings >= 3 and not answering.closed
        finally:
            answerer.cancel()
            await answering.close()
            await silent.close()


async def test_connection_closed_at_its_maximum_age(data: list[Path]) -> None:
    """The shortened "24 h": the server closes the connection at max_connection_age_s."""
    sc = Scenario(ws=WsSettings(max_connection_age_s=0.3))
    async with running(data, sc) as sim, \
            websockets.connect(f"{sim.ws_url}/ws/evxbtc@aggTrade") as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


async def test_symbols_interleave_in_time_order(tmp_path: Path) -> None:
    """Trades of several symbols due in one wake-up go out in market-time order."""
    files = [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", steady_trades(5, T0, 2.0)),
             write_trades(tmp_path / "binance_GVTBTC_aggtrades.csv",
                          steady_trades(5, T0 + 1, 2.0))]
    clock = ManualClock()
    sc = Scenario(market=MarketSettings(start_delay_s=1.0))
    async with running(files, sc, clock=clock) as sim, \
            websockets.connect(f"{sim.ws_url}/stream?streams=evxbtc@aggTrade/"
                               "gvtbtc@aggTrade") as ws:
        await async_wait_for(lambda: sim.streams.connections, message="connection")
        clock.advance(100)
        sim.publisher.poke()
        got = [(await recv_json(ws))["data"] for _ in range(10)]
    assert [d["T"] for d in got] == sorted(d["T"] for d in got)
    assert [d["s"][:3] for d in got[:4]] == ["EVX", "GVT", "EVX", "GVT"]


async def test_bad_urls_and_connection_attempt_limit(data: list[Path]) -> None:
    """An invalid stream in the URL is refused (400); attempts past the per-IP limit get 429."""
    sc = Scenario(ws=WsSettings(attempts_per_5min=2))
    async with running(data, sc) as sim, aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as bad:
            await s.ws_connect(f"{sim.ws_url}/ws/evx btc")
        assert bad.value.status == 400
        ok = await s.ws_connect(f"{sim.ws_url}/ws")
        with pytest.raises(aiohttp.WSServerHandshakeError) as limited:
            await s.ws_connect(f"{sim.ws_url}/ws")
        assert limited.value.status == 429
        await ok.close()


async def test_microsecond_time_unit_stream(data: list[Path]) -> None:
    """?timeUnit=MICROSECOND gives T and E in µs on that connection only."""
    clock = ManualClock()
    sc = Scenario(market=MarketSettings(start_delay_s=1.0))
    async with running(data, sc, clock=clock) as sim, \
            websockets.connect(f"{sim.ws_url}/ws/evxbtc@aggTrade?timeUnit=MICROSECOND") as us, \
            websockets.connect(f"{sim.ws_url}/ws/evxbtc@aggTrade") as ms:
        await async_wait_for(lambda: len(sim.streams.connections) == 2, message="connections")
        clock.advance(1)
        sim.publisher.poke()
        a, b = await recv_json(us), await recv_json(ms)
    assert a["a"] == b["a"] == 1 and a["T"] == b["T"] * 1000 == int(T0 * 1e6)
    assert a["E"] == b["E"] * 1000


async def test_trade_stream_carries_the_same_trades(data: list[Path]) -> None:
    """<symbol>@trade sends the documented trade payload (t = the aggregate id) beside aggTrade."""
    clock = ManualClock()
    sc = Scenario(market=MarketSettings(start_delay_s=1.0))
    async with running(data, sc, clock=clock) as sim, \
            websockets.connect(f"{sim.ws_url}/stream?streams=evxbtc@trade/evxbtc@aggTrade") as ws:
        await async_wait_for(lambda: sim.streams.connections, message="connection")
        clock.advance(1)
        sim.publisher.poke()
        got = {m["stream"]: m["data"] for m in [await recv_json(ws), await recv_json(ws)]}
    trade, agg = got["evxbtc@trade"], got["evxbtc@aggTrade"]
    assert set(trade) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"} and trade["e"] == "trade"
    assert (trade["t"], trade["p"], trade["q"], trade["T"], trade["m"]) == (
        agg["a"], agg["p"], agg["q"], agg["T"], agg["m"])
