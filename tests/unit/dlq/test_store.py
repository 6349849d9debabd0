"""Tests for hope.dlq.store: durable letters in SQLite."""

import sqlite3

import pytest

from hope.dlq.store import DlqStore, DlqStoreError, Letter


def _letter(lid="dl-aaa", status="pending", nxt=10.0):
    return Letter(id=lid, service="executor", handler="on_order",
                  event={"event_id": "sha256:1", "event_type": "ORDER", "payload": {"x": 1}},
                  status=status, attempts=1, errors=[{"error": "boom"}], next_attempt_at=nxt,
                  created_at=1.0, updated_at=1.0)


def test_letters_survive_reopening(tmp_path):
    """A letter written and committed is read back identically by a new connection."""
    path = tmp_path / "dlq.sqlite3"
    with DlqStore(path) as s:
        s.put(_letter())
    with DlqStore(path) as s:
        got = s.get("dl-aaa")
    assert got == _letter()


def test_due_returns_only_pending_letters_whose_time_came(tmp_path):
    """due(now) lists pending letters with next_attempt_at <= now and nothing else."""
    with DlqStore(tmp_path / "d.db") as s:
        s.put(_letter("dl-1", nxt=5.0))
        s.put(_letter("dl-2", nxt=50.0))
        s.put(_letter("dl-3", status="parked", nxt=None))
        assert [lt.id for lt in s.due(10.0)] == ["dl-1"]
        assert s.counts() == {"pending": 2, "retrying": 0, "parked": 1, "done": 0}


def test_request_retry_makes_parked_due_now_and_forced(tmp_path):
    """An operator retry turns a parked letter pending, due now, forced past staleness."""
    with DlqStore(tmp_path / "d.db") as s:
        s.put(_letter("dl-1", status="parked", nxt=None))
        s.put(_letter("dl-2", status="done", nxt=None))
        assert s.request_retry(None, 99.0) == ["dl-1"]
        got = s.get("dl-1")
        assert (got.status, got.next_attempt_at, got.forced) == ("pending", 99.0, True)
        assert s.get("dl-2").status == "done"


def test_find_by_unique_prefix_and_purge(tmp_path):
    """A unique prefix finds a letter, an ambiguous one finds none; purge deletes."""
    with DlqStore(tmp_path / "d.db") as s:
        s.put(_letter("dl-abc1"))
        s.put(_letter("dl-abd2"))
        assert s.find("dl-abc").id == "dl-abc1"
        assert s.find("dl-ab") is None
        assert s.purge("dl-abc1") and not s.purge("dl-abc1")


def test_unknown_status_is_refused(tmp_path):
    """Writing a letter with a status outside the four raises ValueError naming it."""
    with DlqStore(tmp_path / "d.db") as s, pytest.raises(ValueError, match="weird"):
        s.put(_letter(status="weird"))


def test_garbage_file_raises_a_clear_error(tmp_path):
    """A file that is not SQLite raises DlqStoreError naming the file."""
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(DlqStoreError, match="bad.db"):
        DlqStore(bad)


def test_store_uses_wal(tmp_path):
    """The database runs in WAL mode so readers never block the daemon's writes."""
    DlqStore(tmp_path / "d.db").close()
    mode = sqlite3.connect(tmp_path / "d.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
