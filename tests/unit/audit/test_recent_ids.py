"""The bounded window of recent event ids and its start-up filling in log order."""

from __future__ import annotations

import pytest

from hope.audit.recent_ids import NewestIds, RecentIds


def test_window_forgets_the_oldest_ids_first():
    """Past its capacity the window drops the oldest id and keeps the newest ones."""
    ids = RecentIds(3)
    for eid in ("a", "b", "c", "a", "d"):
        ids.add(eid)
    assert "a" not in ids and {"b", "c", "d"} <= {x for x in "abcd" if x in ids}
    assert len(ids) == 3


def test_start_up_keeps_the_highest_leaves_offered_in_any_order():
    """Ids offered family by family keep the capacity with the highest leaf indices."""
    newest, ids = NewestIds(3), RecentIds(3)
    for leaf, eid in ((0, "p0"), (4, "p4"), (5, "p5"), (1, "o1"), (6, "o6"), (2, "s2")):
        newest.offer(leaf, eid)
    newest.into(ids)
    assert [e for e in ("p4", "p5", "o6") if e in ids] == ["p4", "p5", "o6"]
    ids.add("new")
    assert "p4" not in ids  # forgotten in log order


def test_capacity_below_one_is_refused():
    """A zero window is a configuration error, not a silent no-dedupe."""
    with pytest.raises(ValueError, match="capacity"):
        RecentIds(0)
