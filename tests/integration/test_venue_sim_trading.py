"""The real ``hope venue-sim`` process trading: its WebSocket API streams executionReports of an
order placed over REST, and a held reply lets a test SIGKILL a client at the exact point between
the venue placing an order and the client reading the reply; the venue's books then show that
order once."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hope.testing import Processes, wait_for
from hope.venue_sim.signing import hmac_signature, ws_payload
from hope.venue_sim.sim_client import SimAdmin
from hope.venue_sim.testing import start_process, steady_trades, write_trades

pytestmark = pytest.mark.integration

CLIENT = """
import hashlib, hmac, sys, time
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import Request, urlopen
url, key_dir, client_id = sys.argv[1:4]
api_key, secret = ((Path(key_dir) / n).read_text().strip() for n in ("api_key", "secret"))
query = urlencode({"symbol": "EVXBTC", "side": "BUY", "type": "MARKET", "quantity": "100",
                   "newClientOrderId": client_id, "timestamp": int(time.time() * 1000)})
query += "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
print(urlopen(Request(url + "/api/v3/order?" + query, method="POST",
                      headers={"X-MBX-APIKEY": api_key}), timeout=60).read())
"""

async def reports(port: int, api_key: str, secret: str, client_id: str,
                  subscribed: asyncio.Event, n: int) -> list[dict]:
    """The first ``n`` executionReports of ``client_id`` on a signature subscription."""
    params: dict[str, Any] = {"apiKey": api_key, "timestamp": int(time.time() * 1000)}
    params["signature"] = hmac_signature(secret, ws_payload(params))
    got: list[dict] = []
    async with aiohttp.ClientSession() as s, s.ws_connect(
            f"ws://127.0.0.1:{port}/ws-api/v3") as ws:
        await ws.send_json({"id": 1, "method": "userDataStream.subscribe.signature",
                            "params": params})
        reply = await asyncio.wait_for(ws.receive_json(), 10)
        assert reply["status"] == 200, reply
        subscribed.set()
        while len(got) < n:
            msg = await asyncio.wait_for(ws.receive_json(), 30)
            event = msg.get("event", {})
            if event.get("e") == "executionReport" and event.get("c") == client_id:
                got.append(event)
    return got


def test_kill_client_while_its_reply_is_held(state_dir: Path, procs: Processes) -> None:
    """A client SIGKILLed while the venue holds its reply leaves exactly one FILLED order on
    the venue's books, and the user stream reported it (NEW, TRADE) all the same."""
    data = write_trades(state_dir / "binance_EVXBTC_aggtrades.csv",
                        steady_trades(4000, time.time() - 3000, 1.0))
    port = start_process(procs, "venue-sim", ["--data", str(data), "--skip", "2990",
                                              "--test-keys", str(state_dir)],
                         state_dir / "venue.port")
    key_dir = state_dir / "keys" / "binance"
    assert (key_dir / "secret").stat().st_mode & 0o777 == 0o600
    api_key, secret = ((key_dir / n).read_text().strip() for n in ("api_key", "secret"))
    sim = SimAdmin(port)

    async def scenario() -> list[dict]:
        subscribed = asyncio.Event()
        stream = asyncio.ensure_future(reports(port, api_key, secret, "kill-1", subscribed, 2))
        await asyncio.wait_for(subscribed.wait(), 10)
        await asyncio.to_thread(sim.hold)
        procs.start("client", ["-c", CLIENT, f"http://127.0.0.1:{port}", str(key_dir),
                               "kill-1"])
        held = await asyncio.to_thread(sim.wait_held, 30)
        assert [h["clientOrderId"] for h in held] == ["kill-1"], procs.log_text("client")
        procs.signal("client", signal.SIGKILL)
        await asyncio.to_thread(wait_for, lambda: procs.procs["client"].poll() is not None, 10,
                                0.05, "client gone")
        await asyncio.to_thread(sim.release)
        return await asyncio.wait_for(stream, 30)

    events = asyncio.run(scenario())
    assert [(e["x"], e["X"]) for e in events] == [("NEW", "NEW"), ("TRADE", "FILLED")]
    orders = [o for o in sim.orders() if o["clientOrderId"] == "kill-1"]
    assert len(orders) == 1 and orders[0]["status"] == "FILLED"
    assert [t["id"] for t in orders[0]["fills"]] == [events[1]["t"]]
    assert procs.procs["client"].returncode == -signal.SIGKILL
    procs.stop("venue-sim")
