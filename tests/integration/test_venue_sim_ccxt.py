"""The stand-in held to the real protocol: ccxt's binance client (REST) and ccxt.pro's (streams),
their URLs pointed at a real ``hope venue-sim`` process, load the markets, read the server
time, page the trades and watch the live aggTrade stream."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import ccxt
import ccxt.pro
import pytest

from hope.testing import Processes, wait_for
from hope.venue_sim.testing import generate_test_keys, start_process, steady_trades, write_trades

pytestmark = pytest.mark.integration

T0 = 1_600_000_000.0


OPTIONS = {"enableRateLimit": False, "timeout": 10_000,
           "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}}


def point_at(ex: ccxt.binance, port: int) -> ccxt.binance:
    """Every REST URL (and the spot stream URL) of a ccxt binance client on the stand-in."""
    base = f"http://127.0.0.1:{port}"
    api = dict(ex.urls["api"])
    for key, url in api.items():
        if isinstance(url, str) and url.startswith("https://api.binance.com"):
            api[key] = base + url[len("https://api.binance.com"):]
    api["ws"] = {**api.get("ws", {}), "spot": f"ws://127.0.0.1:{port}/ws"}
    ex.urls["api"] = {**api, "public": f"{base}/api/v3", "private": f"{base}/api/v3"}
    return ex


async def watch_ids(port: int, rounds: int) -> list[int]:
    """The aggregate ids ccxt.pro's watch_trades receives over ``rounds`` calls."""
    ex = point_at(ccxt.pro.binance(OPTIONS), port)
    ids: list[int] = []
    try:
        await ex.load_markets()
        for _ in range(rounds):
            trades = await asyncio.wait_for(
                ex.watch_trades("EVX/BTC", params={"name": "aggTrade"}), 10)
            ids += [int(t["id"]) for t in trades]
    finally:
        await ex.close()
    return ids


def test_ccxt_load_markets_fetch_time_and_trades(state_dir: Path, procs: Processes) -> None:
    """ccxt parses exchangeInfo, /time, aggTrades (paged) and the live stream without an error."""
    # ids 1..1000 are history (the first 100 s), the rest streams live, one every 0.05 s
    data = write_trades(state_dir / "binance_EVXBTC_aggtrades.csv", steady_trades(1500, T0, 0.1))
    port = start_process(procs, "venue-sim", ["--data", str(data), "--skip", "100",
                                              "--speed", "2"], state_dir / "venue.port")
    ex = point_at(ccxt.binance(OPTIONS), port)
    markets = ex.load_markets()
    assert "EVX/BTC" in markets
    market = markets["EVX/BTC"]
    assert market["id"] == "EVXBTC" and market["spot"] and market["active"]
    assert market["precision"]["price"] == pytest.approx(1e-8)
    server_ms = ex.fetch_time()
    assert server_ms is not None and abs(server_ms / 1000 - time.time()) < 30
    trades = ex.fetch_trades("EVX/BTC", limit=1000, params={"fromId": 1})
    assert [int(t["id"]) for t in trades] == list(range(1, 1001))
    assert trades[0]["timestamp"] == int(T0 * 1000) and trades[0]["side"] == "buy"
    rest = ex.fetch_trades("EVX/BTC", limit=1000, params={"fromId": 1001})
    assert int(rest[0]["id"]) == 1001 and len(rest) >= 1
    since = ex.fetch_trades("EVX/BTC", since=int((T0 + 50) * 1000), limit=5)
    assert [int(t["id"]) for t in since] == [501, 502, 503, 504, 505]
    with pytest.raises(ccxt.BadSymbol):
        ex.publicGetAggTrades({"symbol": "NOPEBTC"})
    live = asyncio.run(watch_ids(port, 4))
    assert live and live[0] > 1000 and live == list(range(live[0], live[0] + len(live)))
    procs.stop("venue-sim")
    wait_for(lambda: procs.procs["venue-sim"].poll() is not None, 10, message="exit")
    assert procs.procs["venue-sim"].returncode == 0



def signed_options(api_key: str, secret: str | None) -> dict:
    """ccxt options for the SIGNED endpoints (no margin-pair lookups: the stand-in is spot)."""
    return {**OPTIONS, "apiKey": api_key, "secret": secret,
            "options": {**OPTIONS["options"], "fetchMargins": False}}


def test_ccxt_trades_on_the_stand_in(state_dir: Path, procs: Processes) -> None:
    """ccxt's binance client, signing with generated test keys, places a market order, reads it
    back, lists its trades and the balance: the stand-in's trading side speaks the protocol."""
    now = time.time()
    data = write_trades(state_dir / "binance_EVXBTC_aggtrades.csv",
                        steady_trades(4000, now - 3000, 1.0, price=0.00001))
    keys = generate_test_keys(state_dir)
    port = start_process(procs, "venue-sim", ["--data", str(data), "--skip", "2990",
                                              "--keys", str(keys.directory),
                                              "--balance", "BTC=0.5"],
                         state_dir / "venue.port")
    ex = point_at(ccxt.binance(signed_options(keys.api_key, keys.secret)), port)
    ex.load_markets()
    order = ex.create_order("EVX/BTC", "market", "buy", 20)
    assert order["status"] == "closed" and order["filled"] == 20
    assert order["clientOrderId"] and order["fee"]["currency"] == "BTC"
    fetched = ex.fetch_order(order["id"], "EVX/BTC")
    assert fetched["id"] == order["id"] and fetched["status"] == "closed"
    trades = ex.fetch_my_trades("EVX/BTC")
    assert [t["order"] for t in trades] == [order["id"]] and trades[0]["amount"] == 20
    balance = ex.fetch_balance()
    assert balance["EVX"]["free"] == 20
    assert balance["BTC"]["free"] == pytest.approx(0.5 - trades[0]["cost"]
                                                   - trades[0]["fee"]["cost"])
    resting = ex.create_order("EVX/BTC", "limit", "buy", 50, 0.000005)
    assert resting["status"] == "open"
    assert [o["id"] for o in ex.fetch_open_orders("EVX/BTC")] == [resting["id"]]
    assert ex.cancel_order(resting["id"], "EVX/BTC")["status"] == "canceled"
    by_cost = ex.create_order("EVX/BTC", "market", "buy", None,
                              params={"quoteOrderQty": "0.0002"})
    assert by_cost["status"] == "closed" and by_cost["cost"] <= 0.0002
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("EVX/BTC", "market", "buy", 10_000_000)
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        ex.create_order("EVX/BTC", "market", "buy", 1)
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order("999999", "EVX/BTC")
    wrong = point_at(ccxt.binance(signed_options(keys.api_key, "x" * 64)), port)
    with pytest.raises(ccxt.AuthenticationError):
        wrong.fetch_balance()
