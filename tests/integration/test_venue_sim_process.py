"""``hope venue-sim`` as an operator runs it: a scenario file's fault reaches a client of the
real process (the connection is cut after trade N), REST still serves what came after."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
import websockets

from hope.testing import Processes, wait_for
from hope.venue_sim.testing import start_process, steady_trades, write_trades

pytestmark = pytest.mark.integration

SCENARIO = """
[market]
speed = 200.0          # one trade every 5 ms
rebase = true
start_delay_s = 1.0
[[fault]]
kind = "drop"
symbol = "EVXBTC"
from_id = 150
"""


async def read_until_cut(port: int) -> list[int]:
    ids: list[int] = []
    url = f"ws://127.0.0.1:{port}/stream?streams=evxbtc@aggTrade"
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosedError):
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                ids.append(msg["data"]["a"])
    return ids


async def rest_after(port: int, from_id: int) -> list[int]:
    url = f"http://127.0.0.1:{port}/api/v3/aggTrades?symbol=EVXBTC&fromId={from_id}&limit=5"
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        assert resp.status == 200 and "X-MBX-USED-WEIGHT-1M" in resp.headers
        return [row["a"] for row in await resp.json()]


def test_scenario_fault_reaches_a_client_of_the_process(state_dir: Path,
                                                        procs: Processes) -> None:
    """The drop fault of a scenario file cuts the stream right after trade 150."""
    data = write_trades(state_dir / "binance_EVXBTC_aggtrades.csv", steady_trades(400, 1e9))
    scenario = state_dir / "scenario.toml"
    scenario.write_text(SCENARIO)
    port = start_process(procs, "venue-sim", ["--data", str(data), "--scenario", str(scenario)],
                         state_dir / "venue.port")
    ids = asyncio.run(read_until_cut(port))
    assert ids and ids[-1] == 150 and ids == list(range(ids[0], 151))
    after = wait_for(lambda: (r := asyncio.run(rest_after(port, 151))) and len(r) == 5 and r,
                     10, message="trades after the drop on REST")
    assert after == [151, 152, 153, 154, 155]
    assert "venue-sim listening on http://127.0.0.1:" in procs.log_text("venue-sim")
    assert procs.stop("venue-sim") == 0
