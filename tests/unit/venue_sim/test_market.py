"""Stand-in market: contiguous ids per symbol, publication by clock and speed, rebased
timestamps, and the aggTrades selection rules (fromId inclusive, startTime, endTime, limit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hope.venue_sim.market import AggTrade, Market, RecordedTrades, load_recorded
from hope.venue_sim.testing import ManualClock, steady_trades, write_trades

T0 = 1_600_000_000.0


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    a = write_trades(tmp_path / "binance_EVXBTC_aggtrades_a.csv", steady_trades(10, T0))
    b = write_trades(tmp_path / "binance_GVTBTC_aggtrades_b.csv", steady_trades(5, T0 + 100))
    return [a, b]


def test_ids_are_contiguous_per_symbol_from_first_id(files: list[Path]) -> None:
    """Each symbol's trades get first_id, first_id+1, ... whatever the file carried."""
    market = Market(load_recorded(files), first_id=500, clock=ManualClock())
    assert [t.a for t in market.tapes["EVXBTC"].trades] == list(range(500, 510))
    assert [t.a for t in market.tapes["GVTBTC"].trades] == list(range(500, 505))
    row = market.tapes["EVXBTC"].trades[0].rest_row()
    assert row["f"] == row["l"] == row["a"] == 500 and row["M"] is True
    assert row["p"] == "0.00001000" and row["q"] == "10.00000000" and row["m"] is False


def test_files_of_one_symbol_merge_in_time_order(tmp_path: Path) -> None:
    """Two hourly files of one symbol (a tape) become one stream in time order."""
    late = write_trades(tmp_path / "binance_EVXBTC_aggtrades_2.csv", steady_trades(3, T0 + 10))
    early = write_trades(tmp_path / "binance_EVXBTC_aggtrades_1.csv", steady_trades(3, T0))
    rec = load_recorded([late, early])["EVXBTC"]
    assert rec.ts == sorted(rec.ts) and len(rec.ts) == 6


def test_bar_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    """A bar file is not a trade stream: skipped and reported, the rest still served."""
    bars = tmp_path / "ohlcv.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n2021-01-01T00:00:00,1,1,1,1,1\n")
    trades = write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", steady_trades(2, T0))
    notes: list[str] = []
    assert list(load_recorded([bars, trades], on_skip=notes.append)) == ["EVXBTC"]
    assert any("holds bars" in n for n in notes)


def test_publication_follows_clock_and_speed(files: list[Path]) -> None:
    """At speed 10, one wall second publishes ten market seconds of trades."""
    clock = ManualClock()
    market = Market(load_recorded(files), speed=10.0, clock=clock)
    tape = market.tapes["EVXBTC"]
    assert tape.published(clock()) == 1          # the first trade is due at t0
    clock.advance(0.45)
    assert tape.published(clock()) == 5          # market t0+4.5 s: trades 0..4
    assert tape.next_due(5) == pytest.approx(clock.now + 0.05)
    clock.advance(10)
    assert tape.published(clock()) == 10 and tape.next_due(10) is None


def test_a_closed_market_publishes_nothing_more(files: list[Path]) -> None:
    """Closing ends every tape at what is published now: nothing later is due or served."""
    clock = ManualClock()
    market = Market(load_recorded(files), speed=10.0, clock=clock)
    tape = market.tapes["EVXBTC"]
    clock.advance(0.45)
    assert market.close()["EVXBTC"] == 5 and market.closed
    clock.advance(10)
    assert tape.published(clock()) == 5 and tape.next_due(5) is None
    assert [t.a for t in tape.query(clock(), None, None, None, 100)] == [1, 2, 3, 4, 5]


def test_skip_makes_history_available_at_start(files: list[Path]) -> None:
    """With skip_s, the first seconds of each symbol are published (history) at t0."""
    clock = ManualClock()
    market = Market(load_recorded(files), skip_s=3.0, clock=clock)
    assert market.tapes["EVXBTC"].published(clock()) == 4


def test_timestamps_original_or_rebased(files: list[Path]) -> None:
    """Original times by default; rebased: the wall time of publication (compressed by speed)."""
    clock = ManualClock(1_700_000_000.0)
    original = Market(load_recorded(files), clock=clock).tapes["EVXBTC"]
    assert int((T0 + 3) * 1000) == original.trades[3].T
    rebased = Market(load_recorded(files), speed=2.0, rebase=True, clock=clock).tapes["EVXBTC"]
    assert [t.T for t in rebased.trades[:3]] == [1_700_000_000_000, 1_700_000_000_500,
                                                  1_700_000_001_000]
    assert rebased.event_ms(clock()) == 1_700_000_000_000


def test_query_selection_rules(files: list[Path]) -> None:
    """fromId inclusive forward; startTime oldest; endTime alone newest; none: newest."""
    clock = ManualClock()
    tape = Market(load_recorded(files), clock=clock).tapes["EVXBTC"]
    clock.advance(100)
    now = clock()
    ids = lambda rows: [t.a for t in rows]  # noqa: E731
    assert ids(tape.query(now, 4, None, None, 3)) == [4, 5, 6]
    assert ids(tape.query(now, 9, None, None, 1000)) == [9, 10]
    assert ids(tape.query(now, 11, None, None, 1000)) == []
    t3 = tape.trades[2].T
    assert ids(tape.query(now, None, t3, None, 2)) == [3, 4]
    assert ids(tape.query(now, None, t3, t3 + 1000, 10)) == [3, 4]
    assert ids(tape.query(now, None, None, t3, 2)) == [2, 3]
    assert ids(tape.query(now, None, None, None, 3)) == [8, 9, 10]


def test_query_serves_only_published_trades(files: list[Path]) -> None:
    """REST never shows a trade the stream has not published yet."""
    clock = ManualClock()
    tape = Market(load_recorded(files), clock=clock).tapes["EVXBTC"]
    clock.advance(2.5)
    assert [t.a for t in tape.query(clock(), 1, None, None, 1000)] == [1, 2, 3]
    assert tape.last_id(clock()) == 3


def test_paging_by_from_id_returns_every_trade_once(tmp_path: Path) -> None:
    """Paging fromId = last + 1 by 1000 walks 2,500 trades exactly once, in order."""
    path = write_trades(tmp_path / "binance_EVXBTC_aggtrades.csv", steady_trades(2500, T0, 0.01))
    clock = ManualClock()
    tape = Market(load_recorded([path]), clock=clock).tapes["EVXBTC"]
    clock.advance(1000)
    seen, from_id = [], 1
    while page := tape.query(clock(), from_id, None, None, 1000):
        seen += [t.a for t in page]
        from_id = page[-1].a + 1
    assert seen == list(range(1, 2501))


def test_stream_payload_is_the_documented_json(files: list[Path]) -> None:
    """The aggTrade frame parses to the documented fields and types."""
    trade = Market(load_recorded(files), clock=ManualClock()).tapes["EVXBTC"].trades[1]
    assert json.loads(trade.stream_json("EVXBTC", 123)) == {
        "e": "aggTrade", "E": 123, "s": "EVXBTC", "a": 2, "p": trade.p, "q": trade.q,
        "f": 2, "l": 2, "T": trade.T, "m": True, "M": True}


def test_start_delay_holds_the_live_stream(files: list[Path]) -> None:
    """With start_delay_s, no live trade is published before the delay is over."""
    clock = ManualClock()
    tape = Market(load_recorded(files), start_delay_s=2.0, clock=clock).tapes["EVXBTC"]
    assert tape.history == 0 and tape.published(clock()) == 0
    clock.advance(2.0)
    assert tape.published(clock()) == 1


@given(gaps=st.lists(st.integers(0, 3000), min_size=1, max_size=60),
       from_id=st.one_of(st.none(), st.integers(-5, 70)),
       start=st.one_of(st.none(), st.integers(0, 100_000)),
       end=st.one_of(st.none(), st.integers(0, 100_000)),
       limit=st.integers(1, 20), published=st.integers(0, 200_000))
def test_query_matches_the_rules_on_any_tape(gaps: list[int], from_id: int | None,
                                             start: int | None, end: int | None, limit: int,
                                             published: int) -> None:
    """Any tape, any query: the rows equal a plain filter of the published trades by the rules."""
    rec = RecordedTrades("EVXBTC")
    ts = T0
    for gap in gaps:
        ts += gap / 1000
        rec.ts.append(ts)
        rec.price.append(1.0)
        rec.qty.append(1.0)
        rec.buyer_maker.append(False)
    clock = ManualClock(1_700_000_000.0)
    tape = Market({"EVXBTC": rec}, clock=clock).tapes["EVXBTC"]
    clock.advance(published / 1000)
    now = clock()
    base_ms = int(T0 * 1000)
    s = None if start is None else base_ms + start
    e = None if end is None else base_ms + end
    live = tape.trades[:tape.published(now)]
    before_end = [t for t in live if e is None or _time(t) <= e]
    if from_id is not None:
        want = [t for t in before_end if t.a >= from_id][:limit]
    elif s is not None:
        want = [t for t in before_end if _time(t) >= s][:limit]
    else:
        want = before_end[-limit:]
    assert tape.query(now, from_id, s, e, limit) == want


def _time(trade: AggTrade) -> int:
    return trade.T
