"""The stand-in held to the real protocol: ccxt's binance client, its URLs pointed at a real
``hope venue-sim`` process, loads the markets, reads the server time and pages the trades."""

from __future__ import annotations

from pathlib import Path

import ccxt
import pytest

from hope.testing import Processes, wait_for
from hope.venue_sim.testing import start_process, steady_trades, write_trades

pytestmark = pytest.mark.integration

T0 = 1_600_000_000.0


def binance_at(port: int) -> ccxt.binance:
    """ccxt's binance client with every REST URL on the stand-in and no private calls."""
    base = f"http://127.0.0.1:{port}"
    ex = ccxt.binance({"enableRateLimit": False, "timeout": 10_000,
                       "options": {"fetchMarkets": {"types": ["spot"]},
                                   "fetchCurrencies": False}})
    api = dict(ex.urls["api"])
    for key, url in api.items():
        if isinstance(url, str) and url.startswith("https://api.binance.com"):
            api[key] = base + url[len("https://api.binance.com"):]
    ex.urls["api"] = {**api, "public": f"{base}/api/v3", "private": f"{base}/api/v3"}
    return ex


def test_ccxt_load_markets_fetch_time_and_trades(state_dir: Path, procs: Processes) -> None:
    """ccxt parses exchangeInfo, /time and aggTrades (paged by fromId) without an error."""
    data = write_trades(state_dir / "binance_EVXBTC_aggtrades.csv", steady_trades(1500, T0, 0.1))
    port = start_process(procs, "venue-sim", ["--data", str(data), "--skip", "1000"],
                         state_dir / "venue.port")
    ex = binance_at(port)
    markets = ex.load_markets()
    assert "EVX/BTC" in markets
    market = markets["EVX/BTC"]
    assert market["id"] == "EVXBTC" and market["spot"] and market["active"]
    assert market["precision"]["price"] == pytest.approx(1e-8)
    server_ms = ex.fetch_time()
    assert server_ms is not None and abs(server_ms / 1000 - _now()) < 30
    trades = ex.fetch_trades("EVX/BTC", limit=1000, params={"fromId": 1})
    assert [int(t["id"]) for t in trades] == list(range(1, 1001))
    assert trades[0]["timestamp"] == int(T0 * 1000) and trades[0]["side"] == "buy"
    rest = ex.fetch_trades("EVX/BTC", limit=1000, params={"fromId": 1001})
    assert int(rest[0]["id"]) == 1001 and len(rest) >= 1
    since = ex.fetch_trades("EVX/BTC", since=int((T0 + 50) * 1000), limit=5)
    assert [int(t["id"]) for t in since] == [501, 502, 503, 504, 505]
    with pytest.raises(ccxt.BadSymbol):
        ex.publicGetAggTrades({"symbol": "NOPEBTC"})
    procs.stop("venue-sim")
    wait_for(lambda: procs.procs["venue-sim"].poll() is not None, 10, message="exit")
    assert procs.procs["venue-sim"].returncode == 0


def _now() -> float:
    import time
    return time.time()
