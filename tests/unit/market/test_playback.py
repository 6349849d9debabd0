"""Playback: merge by market time, pace on an injected clock, compress gaps, warm up, windows."""

from __future__ import annotations

import asyncio

import pytest

from hope.clock import ManualClock
from hope.market.feeds import Trade
from hope.market.playback import Playback, PlaybackItem, pump_windows


def trades(symbol: str, times: list[float]) -> list[Trade]:
    return [Trade(t, symbol, 1.0, 1.0, True) for t in times]


class FakeSleep:
    """Advances a ManualClock instead of waiting, and records each requested sleep."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds)


def collect(replay: Playback) -> list[PlaybackItem]:
    async def go() -> list[PlaybackItem]:
        return [item async for item in replay]
    return asyncio.run(go())


def test_files_merge_by_market_time_with_ties_in_file_order() -> None:
    """Two files interleave by ts; equal times keep the order of the files."""
    a = trades("A", [1.0, 3.0, 5.0])
    b = trades("B", [2.0, 3.0, 4.0])
    out = collect(Playback([a, b], speed=0))
    assert [(i.trade.ts, i.trade.symbol) for i in out] == [
        (1.0, "A"), (2.0, "B"), (3.0, "A"), (3.0, "B"), (4.0, "B"), (5.0, "A")]
    assert all(i.live for i in out)


def test_speed_zero_never_sleeps() -> None:
    """As fast as possible: no sleep on the injected clock whatever the gaps."""
    clock = ManualClock()
    sleep = FakeSleep(clock)
    collect(Playback([trades("A", [0.0, 100.0, 5000.0])], speed=0, clock=clock, sleep=sleep))
    assert sleep.calls == []


def test_real_time_paces_and_compresses_long_gaps() -> None:
    """At speed 1 a 1.5 s gap takes 1.5 s; a 1-hour gap takes max_gap_s."""
    clock = ManualClock(0.0)
    sleep = FakeSleep(clock)
    r = Playback([trades("A", [10.0, 11.5, 3611.5, 3612.0])], speed=1.0, max_gap_s=2.0,
               clock=clock, sleep=sleep)
    collect(r)
    assert sleep.calls == pytest.approx([1.5, 2.0, 0.5])
    assert r.compressed_s == pytest.approx(4.0) and clock.now == pytest.approx(4.0)


def test_speed_n_divides_wall_time() -> None:
    """At 10x, 10 s of market time pass in 1 s of wall time."""
    clock = ManualClock(0.0)
    sleep = FakeSleep(clock)
    collect(Playback([trades("A", [0.0, 1.0, 10.0])], speed=10.0, max_gap_s=100.0,
                   clock=clock, sleep=sleep))
    assert clock.now == pytest.approx(1.0)


def test_slow_consumer_is_not_made_slower() -> None:
    """When the consumer already lags the schedule, the replay does not sleep."""
    clock = ManualClock(0.0)
    sleep = FakeSleep(clock)

    async def go() -> None:
        async for _item in Playback([trades("A", [0.0, 1.0, 2.0])], speed=1.0, clock=clock,
                                  sleep=sleep):
            clock.advance(5.0)  # processing takes longer than the market gap
    asyncio.run(go())
    assert sleep.calls == []


def test_warmup_history_is_unpaced_and_older_trades_skipped() -> None:
    """Before the start: the warm-up span is yielded with live=False, older trades skipped."""
    clock = ManualClock(0.0)
    sleep = FakeSleep(clock)
    r = Playback([trades("A", [0.0, 50.0, 90.0, 100.0, 101.0])], speed=1.0, start_ts=100.0,
               warmup_s=60.0, clock=clock, sleep=sleep)
    out = collect(r)
    assert [(i.trade.ts, i.live) for i in out] == [(50.0, False), (90.0, False), (100.0, True),
                                                   (101.0, True)]
    assert r.skipped == 1 and r.warmup == 2 and r.live == 2
    assert sleep.calls == pytest.approx([1.0])
    assert r.progress()["replay_done"] is True


def test_pump_windows_from_file_names_cut_each_file() -> None:
    """Each pump file gets (T - before, T + after); the replay drops trades past the end."""
    names = ["x_EVXBTC_2021-01-09T2100Z.csv", "plain.csv"]
    t = 1610226000.0
    assert pump_windows(names, 20.0, 600.0) == [(t - 20.0, t + 600.0), (None, None)]
    assert pump_windows(names, 20.0)[0] == (t - 20.0, None)
    r = Playback([trades("A", [t - 30, t - 10, t + 700]), trades("B", [t + 800])], speed=0,
               windows=pump_windows(names, 20.0, 600.0), warmup_s=60.0)
    out = collect(r)
    assert [(i.trade.symbol, i.live) for i in out] == [("A", False), ("A", True), ("B", True)]


def test_bad_arguments_are_refused() -> None:
    """Negative speed, a zero gap or mismatched windows raise ValueError."""
    with pytest.raises(ValueError):
        Playback([], speed=-1)
    with pytest.raises(ValueError):
        Playback([], max_gap_s=0)
    with pytest.raises(ValueError):
        Playback([[]], windows=[])
