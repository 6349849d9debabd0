"""The gap tracker: every trade once, in id order, through duplicates, reordering and holes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hope.feed.gaps import GapTracker
from hope.feed.messages import AggTrade


def t(i: int, backfilled: bool = False) -> AggTrade:
    return AggTrade("EVXBTC", i, 1_600_000_000_000 + i, "0.001", "1", False, backfilled)


def ids(trades: list[AggTrade]) -> list[int]:
    return [x.id for x in trades]


def test_in_order_and_duplicates_dropped() -> None:
    """Consecutive ids pass straight through; an id at or below the last one is dropped."""
    seq = GapTracker()
    seq.set_last("EVXBTC", 9)
    out = seq.offer(t(10), 0) + seq.offer(t(11), 0) + seq.offer(t(11), 0) + seq.offer(t(5), 0)
    assert ids(out) == [10, 11]
    assert seq.totals()["duplicates"] == 2


def test_reordered_pair_closes_its_hole_without_rest() -> None:
    """A late frame inside the reorder wait closes the hole: no backfill is due."""
    seq = GapTracker(reorder_wait_s=0.5)
    seq.set_last("EVXBTC", 1)
    assert seq.offer(t(3), 0.0) == []
    assert seq.due(0.1) == []
    assert ids(seq.offer(t(2), 0.2)) == [2, 3]
    assert seq.due(10.0) == []
    assert seq.totals()["reordered"] == 1


def test_hole_is_due_after_the_wait_and_backfill_closes_it() -> None:
    """A hole still open after the wait is due; REST rows then the held live trades go out."""
    seq = GapTracker(reorder_wait_s=0.5)
    seq.set_last("EVXBTC", 1)
    seq.offer(t(5), 0.0)
    assert seq.due(0.4) == []
    assert seq.due(0.6) == [("EVXBTC", (2, 4))]
    assert seq.begin_backfill("EVXBTC") == (2, 4)
    assert seq.offer(t(6), 0.7) == []          # held while backfilling
    out = seq.backfilled("EVXBTC", [t(2, True), t(3, True), t(4, True), t(5, True)],
                         complete=True)
    assert ids(out) == [2, 3, 4, 5, 6]
    assert [x.backfilled for x in out] == [True, True, True, False, False]  # 5 arrived live
    assert ids(seq.end_backfill("EVXBTC")) == []
    assert seq.get("EVXBTC").hole() is None
    assert seq.totals()["backfilled"] == 3


def test_give_up_records_the_rest_as_lost() -> None:
    """A backfill that cannot finish records the missing ids and continues with what is held."""
    seq = GapTracker(reorder_wait_s=0)
    seq.set_last("EVXBTC", 1)
    seq.offer(t(10), 0)
    seq.begin_backfill("EVXBTC")
    seq.backfilled("EVXBTC", [t(2, True), t(3, True)], complete=False)
    assert seq.give_up("EVXBTC") == (4, 9)
    assert ids(seq.end_backfill("EVXBTC")) == [10]
    assert seq.lost_ranges == [("EVXBTC", 4, 9)]
    assert seq.totals()["lost"] == 6


def test_catch_up_after_reconnect_backfills_open_ended() -> None:
    """After a reconnect a symbol backfills from last+1 even if no live trade shows a hole."""
    seq = GapTracker(reorder_wait_s=0.5)
    seq.set_last("EVXBTC", 7)
    seq.request_catch_up("EVXBTC", 100.0)
    assert seq.due(100.0) == [("EVXBTC", (8, None))]
    seq.begin_backfill("EVXBTC")
    out = seq.backfilled("EVXBTC", [t(8, True)], complete=True)
    assert ids(out) == [8]
    seq.end_backfill("EVXBTC")
    assert seq.get("EVXBTC").hole() is None


def test_warmup_hold_then_start_at_first_trade_of_new_symbol() -> None:
    """A symbol with no history held during warm-up starts at its first held trade."""
    seq = GapTracker()
    seq.begin_backfill("EVXBTC", warmup=True)
    seq.offer(t(42), 0)
    seq.offer(t(43), 0)
    seq.set_last("EVXBTC", None)
    assert ids(seq.end_backfill("EVXBTC")) == [42, 43]
    assert seq.totals()["holes"] == 0


def test_overflow_drops_newest_and_backfill_runs_past_them() -> None:
    """Past the hold limit live trades are dropped; the backfill then fetches them too."""
    seq = GapTracker(reorder_wait_s=0, max_buffered=2)
    seq.set_last("EVXBTC", 0)
    seq.begin_backfill("EVXBTC")
    for i in (3, 4, 5, 6):
        seq.offer(t(i), 0)
    assert seq.get("EVXBTC").overflowed
    out = seq.backfilled("EVXBTC", [t(i, True) for i in range(1, 7)], complete=True)
    assert ids(out) == [1, 2, 3, 4, 5, 6]
    assert seq.get("EVXBTC").hole() is None


@given(st.lists(st.integers(1, 60), max_size=120), st.randoms(use_true_random=False))
def test_any_arrival_order_gives_each_id_once_in_order(arrivals: list[int], rnd) -> None:
    """Whatever arrives live (dupes, holes, reordering), live + backfill = each id once, in order."""
    seq = GapTracker(reorder_wait_s=0)
    seq.set_last("EVXBTC", 0)
    venue = max(arrivals, default=0)
    out: list[AggTrade] = []
    for i in arrivals:
        out += seq.offer(t(i), 0)
        if rnd.random() < 0.3:
            for sym, hole in seq.due(1.0):
                seq.begin_backfill(sym)
                page = [t(j, True) for j in range(hole[0], min(venue, hole[0] + 9) + 1)]
                out += seq.backfilled(sym, page, complete=len(page) < 10)
                out += seq.end_backfill(sym)
    for _ in range(100):
        due = seq.due(1.0)
        if not due:
            break
        for sym, hole in due:
            seq.begin_backfill(sym)
            page = [t(j, True) for j in range(hole[0], min(venue, hole[0] + 9) + 1)]
            out += seq.backfilled(sym, page, complete=len(page) < 10)
            out += seq.end_backfill(sym)
    assert ids(out) == list(range(1, venue + 1))
