"""The feed against the stand-in in process (real HTTP and WebSocket on 127.0.0.1; REST tests
share one manual wall clock with it): paged backfill inside the weight budget, a 418 ban
honoured, a backfill that takes too long recorded as lost, the symbol list following
``exchangeInfo``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hope.feed.backfill import fill_hole
from hope.feed.config import BinanceConfig
from hope.feed.feed import LiveFeed
from hope.feed.gaps import GapTracker
from hope.feed.messages import AggTrade
from hope.feed.rest import RestClient, RestError, WeightGate
from hope.testing import async_wait_for
from hope.venue_sim.scenario import MarketSettings, RestSettings, Scenario
from hope.venue_sim.testing import ManualClock, running, steady_trades, write_trades

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

N = 5000


@pytest.fixture
def market(tmp_path: Path) -> Path:
    # every trade is history at once: the market starts at its last trade
    return write_trades(tmp_path / "binance_TSTBTC_aggtrades_t.csv", steady_trades(N, step_s=0.001))


def scenario(**rest) -> Scenario:
    return Scenario(market=MarketSettings(skip_s=10.0), rest=RestSettings(**rest))


async def test_paged_backfill_stays_inside_the_weight_budget(market: Path) -> None:
    """A 4,999-trade hole takes 5 pages; a 40-per-minute venue never answers 429."""
    clock = ManualClock(1_700_000_000.0)

    async def sleep(s: float) -> None:
        clock.advance(s)

    async with running([market], scenario(weight_limit=40), clock=clock) as sim:
        rest = RestClient(sim.rest_url, WeightGate(share=0.5), wall=clock, sleep=sleep)
        try:
            await rest.exchange_info()                   # weight 20; the budget is 20 per min
            seq = GapTracker(reorder_wait_s=0)
            seq.set_last("TSTBTC", 1)
            seq.request_catch_up("TSTBTC", 0.0)
            got = []
            res = await fill_hole("TSTBTC", seq, rest, got.extend, max_backfill_s=30.0)
            assert [t.id for t in got] == list(range(2, N + 1))
            assert res.pages == 5 and res.lost is None
            assert rest.gate.limited == 0 and rest.gate.bans == 0
            assert clock.now // 60 > 1_700_000_000.0 // 60   # it waited for a fresh minute
        finally:
            await rest.close()


async def test_a_418_ban_stops_every_request_until_it_expires(market: Path) -> None:
    """Past the venue's limit a 418 arrives; no request goes out before Retry-After."""
    clock = ManualClock(1_700_000_010.0)
    sent_at: list[float] = []

    async def sleep(s: float) -> None:
        clock.advance(s)

    async with running([market], scenario(weight_limit=8, ban_after=0, ban_s=30.0),
                       clock=clock) as sim:
        gate = WeightGate(share=1.0, limit=6000)         # thinks the limit is far away
        rest = RestClient(sim.rest_url, gate, wall=clock, sleep=sleep)
        try:
            for _ in range(3):
                sent_at.append(clock.now)
                try:
                    await rest.agg_trades("TSTBTC", from_id=1, limit=10)
                except RestError as exc:
                    assert exc.retry and "418" in str(exc)
            assert gate.bans == 1
            ban_end = gate.banned_until
            sent_at.append(clock.now)
            await rest.agg_trades("TSTBTC", from_id=1, limit=10)   # waits out the ban first
            assert clock.now >= ban_end
        finally:
            await rest.close()


async def test_backfill_longer_than_max_is_recorded_as_lost(market: Path) -> None:
    """Slow REST: the backfill stops at max_backfill_s and the rest becomes a lost range."""
    async with running([market], scenario(delay_s=0.3)) as sim:
        rest = RestClient(sim.rest_url, WeightGate())
        try:
            seq = GapTracker(reorder_wait_s=0)
            seq.set_last("TSTBTC", 1)
            seq.begin_backfill("TSTBTC", warmup=True)
            seq.offer(AggTrade("TSTBTC", N, 1, "1", "1", False), 0.0)   # held live trade
            seq.end_backfill("TSTBTC")
            got: list = []
            res = await fill_hole("TSTBTC", seq, rest, got.extend, max_backfill_s=0.5)
            assert res.lost is not None and res.error.startswith("backfill took over")
            ids = [t.id for t in got]
            assert ids == sorted(ids) and ids[-1] == N and len(ids) < N - 1
            assert seq.lost_ranges and seq.lost_ranges[0][2] == N - 1
        finally:
            await rest.close()


async def test_symbol_list_follows_exchange_info(tmp_path: Path) -> None:
    """A symbol going to BREAK is unsubscribed; one coming back to TRADING is warmed up and
    streamed; each change is a FEED ``symbols`` event."""
    a = write_trades(tmp_path / "binance_AAABTC_aggtrades_t.csv", steady_trades(4000, step_s=0.01))
    b = write_trades(tmp_path / "binance_BBBBTC_aggtrades_t.csv", steady_trades(4000, step_s=0.01))
    sc = Scenario(market=MarketSettings(skip_s=1.0, rebase=True), status={"BBBBTC": "BREAK"})
    async with running([a, b], sc) as sim:
        cfg = BinanceConfig(ws_url=sim.ws_url, rest_url=sim.rest_url, warmup_s=1.0,
                            symbols=["AAABTC", "BBBBTC"], symbols_refresh_s=0.2,
                            reorder_wait_s=0.1)
        events: list[dict] = []

        async def record(kind: str, p: dict) -> None:
            events.append(p)

        feed = LiveFeed(cfg, tmp_path / "tape", on_event=record)
        seen: list = []

        async def consume() -> None:
            while True:
                seen.extend(await feed.next_batch())

        def live(symbol: str) -> list[int]:
            return [i.trade.id for i in seen if i.live and i.trade.symbol == symbol]

        await feed.start()
        task = asyncio.create_task(consume())
        try:
            await async_wait_for(lambda: live("AAABTC"), timeout=10, message="AAABTC live")
            assert not live("BBBBTC") and list(feed.symbols) == ["AAABTC"]
            sim.info.set_status("BBBBTC", "TRADING")
            sim.info.set_status("AAABTC", "BREAK")
            await async_wait_for(lambda: live("BBBBTC"), timeout=10, message="BBBBTC live")
            change = next(e for e in events if e["kind"] == "symbols")
            assert (change["added"], change["removed"]) == (["BBBBTC"], ["AAABTC"])
            n = len(live("AAABTC"))
            await async_wait_for(lambda: len(live("BBBBTC")) > 50, timeout=10)
            assert len(live("AAABTC")) == n, "no AAABTC trades after it went to BREAK"
            ids = live("BBBBTC")
            assert ids == list(range(ids[0], ids[0] + len(ids)))
            assert feed.health.symbols["AAABTC"].status == "BREAK"
        finally:
            task.cancel()
            await feed.stop()
