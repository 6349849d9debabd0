"""The executor's append-only journal: one write per record, group commit, torn tails tolerated."""

from __future__ import annotations

from hope.journal import Journal, read_journal


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_appends_reach_the_file_at_once_and_fsync_is_grouped(tmp_path):
    """Records are readable right after append; fsync waits for the interval (piggybacked)."""
    clock = Clock()
    j = Journal(tmp_path / "j", fsync_interval_s=0.02, clock=clock)
    j.append({"a": 1})
    j.append({"a": 2})
    assert read_journal(tmp_path / "j").records == [{"a": 1}, {"a": 2}]
    assert j.fsyncs == 0 and j.dirty
    clock.t += 0.03
    j.append({"a": 3})  # the oldest unsynced line is overdue: this append syncs
    assert j.fsyncs == 1 and not j.dirty
    assert j.sync() is False  # nothing new: no fsync


def test_periodic_sync_and_strict_mode(tmp_path):
    """sync() fsyncs pending lines once; interval 0 fsyncs every append."""
    j = Journal(tmp_path / "j", fsync_interval_s=0.02, clock=Clock())
    j.append([1])
    assert j.sync() is True and j.fsyncs == 1
    strict = Journal(tmp_path / "s", fsync_interval_s=0)
    strict.append([1])
    strict.append([2])
    assert strict.fsyncs == 2
    j.close()
    strict.close()


def test_read_separates_torn_tail_and_reports_inner_corruption(tmp_path):
    """An unterminated last line is torn (not an error); a bad inner line is named file:line."""
    path = tmp_path / "j"
    path.write_bytes(b'{"a":1}\nnot json\n{"a":3}\n{"a":4')
    got = read_journal(path)
    assert got.records == [{"a": 1}, {"a": 3}]
    assert len(got.bad) == 1 and got.bad[0].startswith(f"{path}:2:")
    assert got.torn == b'{"a":4' and got.torn_where == f"{path}:4"
    assert got.good_size == len(b'{"a":1}\nnot json\n{"a":3}\n')
    assert read_journal(tmp_path / "missing") is None


def test_open_cuts_the_torn_tail(tmp_path):
    """Opening with truncate_to drops the torn bytes, so the next record starts a clean line."""
    path = tmp_path / "j"
    path.write_bytes(b'{"a":1}\n{"a"')
    got = read_journal(path)
    j = Journal(path)
    j.open(truncate_to=got.good_size)
    j.append({"a": 2})
    again = read_journal(path)
    assert again.records == [{"a": 1}, {"a": 2}] and again.torn == b"" and again.bad == []
