"""Sequence cursors: duplicates dropped, holes found, ranges covered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hope.bus.cursor import ALL, Cursors, StreamCursor


def test_in_order_numbers_advance_the_low_mark():
    """Contiguous numbers advance the low mark and leave nothing above it."""
    cur = StreamCursor()
    assert all(cur.add(n) for n in (1, 2, 3))
    assert cur.low == 3 and not cur.above


def test_duplicates_are_reported():
    """A number seen before is a duplicate, below or above the low mark."""
    cur = StreamCursor()
    cur.add(1)
    cur.add(5)
    assert not cur.add(1) and not cur.add(5)


def test_holes_are_the_missing_ranges():
    """Holes are closed ranges between the low mark and a bound that were never seen."""
    cur = StreamCursor()
    for n in (1, 2, 5, 6, 9):
        cur.add(n)
    assert cur.holes(10) == [(3, 4), (7, 8), (10, 10)]


def test_cover_settles_a_range():
    """Covering a hole (replayed, not ours, or missing) advances past it."""
    cur = StreamCursor()
    cur.add(1)
    cur.add(5)
    cur.cover(2, 4)
    assert cur.low == 5 and cur.holes(5) == []


def test_observe_returns_holes_below_a_new_number():
    """Observing seq 4 first reports 1..3 as a hole to replay."""
    cursors = Cursors(track_all=True)
    key = cursors.key("scanner", "e1", "SIGNAL")
    assert key[2] == ALL
    assert cursors.observe(key, 4) == (True, [(1, 3)])
    assert cursors.observe(key, 4) == (False, [])


def test_typed_cursors_track_per_event_type():
    """A subscriber to some types keys its cursors by event type, not seq."""
    cursors = Cursors(track_all=False)
    assert cursors.key("scanner", "e1", "PRICE") != cursors.key("scanner", "e1", "SIGNAL")


@given(st.permutations(list(range(1, 40))))
def test_any_arrival_order_ends_contiguous(order):
    """Whatever the arrival order, seeing every number once ends with no holes."""
    cur = StreamCursor()
    for n in order:
        assert cur.add(n)
    assert cur.low == 39 and cur.holes(39) == []
