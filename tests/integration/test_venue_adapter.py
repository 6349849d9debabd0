"""HOPE's venue client against the stand-in's real signed endpoints (in-process server on
127.0.0.1): exchangeInfo filters, key restrictions, a MARKET BUY with FULL fills and trade ids,
the query by client id and -2013, balances, a definitive refusal and an unknown outcome."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest

from hope.venue.adapter import BinanceVenue, WithdrawalsEnabled
from hope.venue.config import BinanceVenueConfig
from hope.venue.errors import VenueRefused, VenueUnknown
from hope.venue.keys import load_keys
from hope.venue.rest import VenueRest
from hope.venue_sim.scenario import MarketSettings, Scenario, TradingSettings
from hope.venue_sim.signing import load_key_dir
from hope.venue_sim.testing import generate_test_keys, running, steady_trades, write_trades

pytestmark = pytest.mark.integration


def client(keys_dir: Path, url: str, *, timeout_s: float = 5.0, **cfg) -> BinanceVenue:
    keys = load_keys(BinanceVenueConfig(**cfg), keys_dir)
    headers: list[dict] = []
    rest = VenueRest(url, keys.api_key, keys.signer, recv_window_ms=5000, timeout_s=timeout_s,
                     on_headers=lambda req, status, h: headers.append(dict(h)))
    venue = BinanceVenue(rest)
    venue.seen_headers = headers  # type: ignore[attr-defined]
    return venue


@pytest.fixture
def data(tmp_path: Path) -> list[Path]:
    return [write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv",
                         steady_trades(400, time.time() - 300, 1.0))]


def scenario(**kw) -> Scenario:
    return Scenario(market=MarketSettings(skip_s=250), trading=TradingSettings(**kw))


@pytest.mark.parametrize("kind", ["hmac", "ed25519"])
async def test_buy_query_balances_and_refusals(tmp_path: Path, data: list[Path], kind: str):
    """A signed MARKET BUY fills with trade ids; query by client id finds it; -2013 is None;
    too big a BUY is -2010 (refused); balances move; the key may not withdraw."""
    keys = generate_test_keys(tmp_path, kind)
    cfg = {"ed25519_key_file": str(keys.private_key_path)} if kind == "ed25519" else {}
    async with running(data, scenario(), keys=[load_key_dir(keys.directory)]) as sim:
        venue = client(tmp_path / "keys", sim.rest_url, **cfg)
        try:
            assert await venue.check_restrictions() is not None
            rules = (await venue.load_rules())["EVXBTC"]
            assert rules.base == "EVX" and rules.quote == "BTC" and rules.min_notional > 0
            price = Decimal(str(steady_trades(400, 0, 1.0)[250][1]))
            spend = rules.market_buy(Decimal("0.001"), price)
            order = await venue.market_buy("hope-test1", "EVXBTC", spend)
            assert order.status == "FILLED" and order.fills and order.client_id == "hope-test1"
            assert all(f.trade_id > 0 for f in order.fills)
            found = await venue.query("EVXBTC", "hope-test1")
            assert found is not None and found.order_id == order.order_id
            assert [f.trade_id for f in found.fills] == [f.trade_id for f in order.fills]
            assert await venue.query("EVXBTC", "hope-nope") is None
            balances = await venue.balances()
            assert balances["EVX"] > 0 and balances["BTC"] < 1
            with pytest.raises(VenueRefused) as err:
                await venue.market_buy("hope-test2", "EVXBTC", Decimal("5"))
            assert err.value.code == -2010
            assert await venue.hope_open_orders() == []
            assert any("X-MBX-USED-WEIGHT-1M" in h for h in venue.seen_headers)
            replies = venue.take_replies()
            assert replies and all("signature" not in r.params for r in replies)
            assert not any(keys.api_key in str(r.as_payload()) for r in replies)
        finally:
            await venue.aclose()


async def test_a_key_that_may_withdraw_is_refused(tmp_path: Path, data: list[Path]):
    """apiRestrictions enableWithdrawals=true refuses the key, naming the setting."""
    keys = generate_test_keys(tmp_path)
    async with running(data, scenario(enable_withdrawals=True),
                       keys=[load_key_dir(keys.directory)]) as sim:
        venue = client(tmp_path / "keys", sim.rest_url)
        try:
            with pytest.raises(WithdrawalsEnabled, match="enableWithdrawals"):
                await venue.check_restrictions()
        finally:
            await venue.aclose()


async def test_no_reply_in_time_is_unknown_and_the_order_exists(tmp_path: Path,
                                                                data: list[Path]):
    """A reply later than the client's timeout: VenueUnknown; the order was placed anyway."""
    keys = generate_test_keys(tmp_path)
    async with running(data, scenario(), keys=[load_key_dir(keys.directory)]) as sim:
        venue = client(tmp_path / "keys", sim.rest_url, timeout_s=0.5)
        try:
            await venue.load_rules()
            sim.rest.settings.delay_s = 1.0
            with pytest.raises(VenueUnknown):
                await venue.market_buy("hope-slow", "EVXBTC", Decimal("0.001"))
            sim.rest.settings.delay_s = 0.0

            deadline = time.monotonic() + 10
            found = None
            while found is None and time.monotonic() < deadline:  # placed after the delay
                await asyncio.sleep(0.1)
                found = await venue.query("EVXBTC", "hope-slow")
            assert found is not None and found.status == "FILLED"
        finally:
            await venue.aclose()
