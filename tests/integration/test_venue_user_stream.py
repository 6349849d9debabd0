"""The user data stream client against the stand-in's WebSocket API: executionReports into the
fill book once each, a stream cut mid-fill closed by the gap rule, Ed25519 session logon.
Counted against the stand-in's own trade list."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from hope.feed.pacing import Backoff
from hope.venue.account import AccountFeed
from hope.venue.fills import Fill, FillBook
from hope.venue.userstream import UserStream
from hope.venue_sim.scenario import MarketSettings, Scenario
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
SCENARIO = Scenario(market=MarketSettings(skip_s=250))


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv",
                         steady_trades(400, time.time() - 300, 1.0))]


class KeySigner:
    """Signs as the test key does: HMAC-SHA256 hex, or Ed25519 base64."""

    def __init__(self, keys: VenueTestKeys) -> None:
        self.keys = keys

    def sign(self, payload: str) -> str:
        if self.keys.secret is not None:
            return hmac.new(self.keys.secret.encode(), payload.encode(),
                            hashlib.sha256).hexdigest()
        assert self.keys.private_key_path is not None
        key = load_pem_private_key(self.keys.private_key_path.read_bytes(), password=None)
        return base64.b64encode(key.sign(payload.encode())).decode()  # type: ignore[call-arg]


class Rig:
    """The stand-in, a REST caller, and stream + feed + book wired as the executor wires them."""

    def __init__(self, sim: Any, s: aiohttp.ClientSession, keys: VenueTestKeys,
                 book_path: Path, mode: str = "signature") -> None:
        self.sim, self.s, self.keys = sim, s, keys
        self.book = FillBook(book_path)
        self.delivered: list[Fill] = []
        self.got = asyncio.Event()
        self.feed = AccountFeed(self.book, fetch_trades=self.my_trades,
                                fetch_open_orders=self.open_orders, symbols=lambda: ["EVXBTC"],
                                on_fills=self.on_fills, now_ms=lambda: int(time.time() * 1000),
                                retry_s=0.05)
        self.stream = UserStream(f"{sim.ws_url}/ws-api/v3", api_key=keys.api_key,
                                 signer=KeySigner(keys),
                                 timestamp_ms=lambda: int(time.time() * 1000),
                                 on_event=self.feed.on_event, on_gap=self.feed.on_gap, mode=mode,
                                 backoff=Backoff(0.01, 0.05))

    async def on_fills(self, fills: list[Fill]) -> None:
        self.delivered += fills
        self.got.set()

    async def rest(self, method: str, path: str, **params: Any) -> Any:
        query = signed_query({**params, "timestamp": int(time.time() * 1000)}, self.keys)
        async with self.s.request(method, f"{self.sim.rest_url}{path}?{query}",
                                  headers={"X-MBX-APIKEY": self.keys.api_key}) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == 200, body
            return body

    async def my_trades(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return await self.rest("GET", "/api/v3/myTrades", **params)

    async def open_orders(self) -> list[dict[str, Any]]:
        return await self.rest("GET", "/api/v3/openOrders")

    async def sim_trades(self) -> list[int]:
        async with self.s.get(f"{self.sim.rest_url}/sim/v1/trades") as resp:
            return sorted(t["id"] for t in (await resp.json())["trades"])

    async def fault(self, **body: Any) -> None:
        async with self.s.post(f"{self.sim.rest_url}/sim/v1/trading-fault", json=body) as resp:
            assert resp.status == 200, await resp.text()

    async def wait(self, cond, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            assert left > 0, "condition not met in time"
            self.got.clear()
            try:
                await asyncio.wait_for(self.got.wait(), min(left, 0.5))
            except TimeoutError:
                pass


async def _with_rig(data, tmp_path, mode, body) -> None:
    kind = "ed25519" if mode == "logon" else "hmac"
    keys = generate_test_keys(tmp_path, kind)
    async with running(data, SCENARIO, keys=[load_key_dir(keys.directory)]) as sim, \
            aiohttp.ClientSession() as s:
        rig = Rig(sim, s, keys, tmp_path / "venue" / "fills.jsonl", mode)
        task = asyncio.ensure_future(rig.feed.run(rig.stream.run))
        try:
            await rig.wait(lambda: rig.stream.state == "up" and not rig.book.gap_pending)
            await body(rig)
        finally:
            rig.stream.stop()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            rig.book.close()


async def test_stream_fills_reach_the_book_once_each(data, tmp_path):
    """A BUY in three partial fills: each venue trade is delivered once, via the stream, and
    the FULL reply reporting the same trades adds nothing."""
    async def body(rig: Rig) -> None:
        await rig.fault(kind="partial_fills", parts=3)
        reply = await rig.rest("POST", "/api/v3/order", symbol="EVXBTC", side="BUY",
                               type="MARKET", quantity="100", newClientOrderId="hope-us1",
                               newOrderRespType="FULL")
        await rig.wait(lambda: len(rig.delivered) == 3)
        assert rig.feed.add_order_reply(reply) == []
        assert sorted(f.trade_id for f in rig.delivered) == await rig.sim_trades()
        assert {f.source for f in rig.delivered} == {"stream"}
        assert {f.client_id for f in rig.delivered} == {"hope-us1"}

    await _with_rig(data, tmp_path, "signature", body)


async def test_a_stream_cut_mid_fill_is_closed_by_my_trades(data, tmp_path):
    """The stand-in cuts the stream after one event of a three-part fill: the reconnect's gap
    check finds the rest by /myTrades; every trade exactly once, as the stand-in counts them."""
    async def body(rig: Rig) -> None:
        await rig.fault(kind="partial_fills", parts=3)
        await rig.fault(kind="stream_drop", after_events=1)
        await rig.rest("POST", "/api/v3/order", symbol="EVXBTC", side="BUY", type="MARKET",
                       quantity="100", newClientOrderId="hope-us2")
        await rig.wait(lambda: len(rig.delivered) >= 3 and rig.stream.connects >= 2)
        ids = [f.trade_id for f in rig.delivered]
        assert sorted(ids) == await rig.sim_trades() and len(ids) == len(set(ids)) == 3
        assert "poll" in {f.source for f in rig.delivered}

    await _with_rig(data, tmp_path, "signature", body)


async def test_ed25519_session_logon_then_subscribe(data, tmp_path):
    """With an Ed25519 key: session.logon, userDataStream.subscribe, the fill arrives."""
    async def body(rig: Rig) -> None:
        await rig.rest("POST", "/api/v3/order", symbol="EVXBTC", side="BUY", type="MARKET",
                       quantity="100", newClientOrderId="hope-us3")
        await rig.wait(lambda: len(rig.delivered) == 1)
        assert [f.trade_id for f in rig.delivered] == await rig.sim_trades()

    await _with_rig(data, tmp_path, "logon", body)
