"""Each stream fault knob, seen by a third-party client (aiohttp's): drop, skip, duplicate,
reorder, stall (pings go on), bad JSON, serverShutdown; REST keeps every trade meanwhile."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from hope.testing import async_wait_for
from hope.venue_sim.faults import StreamFault, StreamFaults
from hope.venue_sim.market import AggTrade
from hope.venue_sim.scenario import MarketSettings, Scenario, WsSettings
from hope.venue_sim.server import VenueSim
from hope.venue_sim.testing import ManualClock, running, steady_trades, write_trades

T0 = 1_600_000_000.0
STREAM = "evxbtc@aggTrade"


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", steady_trades(40, T0))]


def scenario(*faults: StreamFault, **ws: float) -> Scenario:
    # the stream starts 1 s (on the manual clock) after start: the client connects first
    return Scenario(market=MarketSettings(start_delay_s=1.0), ws=WsSettings(**ws),
                    faults=list(faults))


async def frames(sim: VenueSim, clock: ManualClock, ws: aiohttp.ClientWebSocketResponse,
                 until_id: int, settle: float = 0.3) -> tuple[list[object], str | None]:
    """Publish trades up to ``until_id``; every frame the client gets and how it ended."""
    await async_wait_for(lambda: sim.streams.connections, message="connection registered")
    clock.now = sim.market.tapes["EVXBTC"].next_due(until_id - 1)
    sim.publisher.poke()
    got: list[object] = []
    while True:
        try:
            msg = await asyncio.wait_for(ws.receive(), settle)
        except TimeoutError:
            return got, None
        if msg.type == aiohttp.WSMsgType.TEXT:
            try:
                body = json.loads(msg.data)
            except ValueError:
                got.append("BAD")
                continue
            got.append(body["data"]["a"] if body["stream"] == STREAM else body)
        else:
            return got, msg.type.name


async def run_fault(data: list[Path], *faults: StreamFault, until: int = 10,
                    **ws: float) -> tuple[list[object], str | None, VenueSim, ManualClock]:
    clock = ManualClock()
    async with running(data, scenario(*faults, **ws), clock=clock) as sim, \
            aiohttp.ClientSession() as s:
        ws_conn = await s.ws_connect(f"{sim.ws_url}/stream?streams={STREAM}")
        got, end = await frames(sim, clock, ws_conn, until)
        await ws_conn.close()
        return got, end, sim, clock


async def test_no_fault_sends_every_trade_once_in_order(data: list[Path]) -> None:
    """Without faults the client sees ids 1..N, each once."""
    got, end, _, _ = await run_fault(data)
    assert got == list(range(1, 11)) and end is None


async def test_drop_after_id_aborts_the_connection(data: list[Path]) -> None:
    """drop: trades up to the id arrive, then the TCP connection is cut (no close frame)."""
    got, end, sim, _ = await run_fault(data, StreamFault("drop", 5))
    assert got == [1, 2, 3, 4, 5] and end in ("CLOSED", "ERROR", "CLOSE")
    assert [f[0] for f in sim.publisher.faults.fired] == ["drop"]


async def test_skip_range_is_silent_on_the_stream_but_served_by_rest(data: list[Path]) -> None:
    """skip: ids 3..5 never sent; aggTrades still has them."""
    clock = ManualClock()
    async with running(data, scenario(StreamFault("skip", 3, 5)), clock=clock) as sim, \
            aiohttp.ClientSession() as s:
        ws = await s.ws_connect(f"{sim.ws_url}/stream?streams={STREAM}")
        got, _ = await frames(sim, clock, ws, 8)
        assert got == [1, 2, 6, 7, 8]
        async with s.get(f"{sim.rest_url}/api/v3/aggTrades?symbol=EVXBTC&fromId=3&limit=3") as r:
            assert [row["a"] for row in await r.json()] == [3, 4, 5]
        await ws.close()


async def test_duplicate_and_reorder(data: list[Path]) -> None:
    """duplicate: each id of the range twice; reorder: the range in reverse order."""
    got, _, _, _ = await run_fault(data, StreamFault("duplicate", 2, 3),
                                   StreamFault("reorder", 6, 8))
    assert got == [1, 2, 2, 3, 3, 4, 5, 8, 7, 6, 9, 10]


async def test_bad_json_frame_before_the_trade(data: list[Path]) -> None:
    """bad_json: a malformed frame arrives just before the trade; the stream goes on."""
    got, end, _, _ = await run_fault(data, StreamFault("bad_json", 3), until=5)
    assert got == [1, 2, "BAD", 3, 4, 5] and end is None


async def test_server_shutdown_announced_then_closed(data: list[Path]) -> None:
    """shutdown: serverShutdown (combined: stream !serverShutdown) then a close after the grace."""
    got, end, _, _ = await run_fault(data, StreamFault("shutdown", 4), until=4,
                                     shutdown_grace_s=0.05)
    assert got[:4] == [1, 2, 3, 4]
    notice = got[4]
    assert isinstance(notice, dict) and notice["stream"] == "!serverShutdown"
    assert notice["data"]["e"] == "serverShutdown" and isinstance(notice["data"]["E"], int)
    assert end == "CLOSE"


async def test_stall_stops_data_while_pings_go_on(data: list[Path]) -> None:
    """stall: no data from the id on for the stall's length, pings continue, then data resumes."""
    clock = ManualClock()
    sc = scenario(StreamFault("stall", 4, seconds=0.6), ping_interval_s=0.25)
    async with running(data, sc, clock=clock) as sim, aiohttp.ClientSession() as s:
        ws = await s.ws_connect(f"{sim.ws_url}/stream?streams={STREAM}")
        got, _ = await frames(sim, clock, ws, 10)
        assert got == [1, 2, 3]
        conn = next(iter(sim.streams.connections))
        pings_before = conn.pings_sent
        await async_wait_for(lambda: not conn.stalled(), 5, message="stall over")
        assert conn.pings_sent > pings_before and not ws.closed
        got, _ = await frames(sim, clock, ws, 12)
        assert got == [11, 12]          # what was published during the stall is not sent
        await ws.close()


def test_fault_plan_is_per_symbol() -> None:
    """A fault naming a symbol leaves the others alone."""
    plan = StreamFaults([StreamFault("skip", 1, 1, symbol="EVXBTC")])
    t = AggTrade(1, "1", "1", 0, False)
    assert plan.plan("EVXBTC", t) == [] and plan.plan("GVTBTC", t) == [("send", t)]


def test_bad_fault_definitions_are_refused() -> None:
    """An unknown kind or a reversed range is refused, naming it."""
    with pytest.raises(ValueError, match="unknown fault kind 'explode'"):
        StreamFault("explode", 1)
    with pytest.raises(ValueError, match="to_id 1 < from_id 5"):
        StreamFault("skip", 5, 1)


async def test_unlisted_symbol_sends_no_frames(data: list[Path]) -> None:
    """A symbol UNLISTED (before its listing, after a delisting) sends nothing on its stream."""
    clock = ManualClock()
    sc = scenario()
    sc.status = {"EVXBTC": "UNLISTED"}
    async with running(data, sc, clock=clock) as sim, aiohttp.ClientSession() as s:
        ws = await s.ws_connect(f"{sim.ws_url}/stream?streams={STREAM}")
        got, end = await frames(sim, clock, ws, 10)
        assert got == [] and end is None and sim.publisher.published["EVXBTC"] == 10
        await ws.close()


async def test_outage_cuts_everything_then_the_venue_returns(data: list[Path]) -> None:
    """outage: connections aborted, new ones and REST get 503 for its length, then all is back."""
    clock = ManualClock()
    async with running(data, scenario(StreamFault("outage", 5, seconds=0.4)),
                       clock=clock) as sim, aiohttp.ClientSession() as s:
        ws = await s.ws_connect(f"{sim.ws_url}/stream?streams={STREAM}")
        got, end = await frames(sim, clock, ws, 8)
        assert got == [1, 2, 3, 4, 5] and end in ("CLOSED", "ERROR", "CLOSE")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await s.ws_connect(f"{sim.ws_url}/stream?streams={STREAM}")
        assert refused.value.status == 503
        rest = f"{sim.rest_url}/api/v3/aggTrades?symbol=EVXBTC&fromId=6&limit=3"
        async with s.get(rest) as r:
            assert r.status == 503
        await async_wait_for(lambda: not sim.streams.outage.active(), 5, message="outage over")
        async with s.get(rest) as r:
            assert r.status == 200 and [row["a"] for row in await r.json()] == [6, 7, 8]
        again = await s.ws_connect(f"{sim.ws_url}/stream?streams={STREAM}")
        await again.close()
