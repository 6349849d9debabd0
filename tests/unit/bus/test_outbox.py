"""The publisher outbox: replay lookups, restart resend, trimming behind the watermark."""

from __future__ import annotations

from hope.bus.outbox import Outbox, Record
from hope.tails import read_quarantined


def rec(seq: int, etype: str = "SIGNAL", tseq: int | None = None, at: float = 0.0) -> Record:
    return Record(seq, tseq or seq, etype, f"{etype}.EVXBTC".encode(), b"body%d" % seq, at)


def test_find_returns_matching_records_and_missing_ranges(tmp_path):
    """A replay lookup returns what matches the prefixes and names what cannot be vouched for."""
    box = Outbox(tmp_path, "e1")
    box.open()
    for n in range(1, 6):
        box.append(rec(n))
    found, missing = box.epochs["e1"].find("seq", "", 2, 8, [b"SIGNAL"])
    assert [r.seq for r in found] == [2, 3, 4, 5]
    assert missing == [(6, 8)]  # never published
    found, _ = box.epochs["e1"].find("seq", "", 1, 5, [b"PRICE"])
    assert found == []


def test_find_by_type_sequence(tmp_path):
    """Lookups by tseq use the per-type index."""
    box = Outbox(tmp_path, "e1")
    box.open()
    box.append(rec(1, "PRICE", 1))
    box.append(rec(2, "SIGNAL", 1))
    box.append(rec(3, "PRICE", 2))
    found, missing = box.epochs["e1"].find("tseq", "PRICE", 1, 2, [])
    assert [r.seq for r in found] == [1, 3] and missing == []


def test_restart_resends_unacknowledged_records_of_earlier_epochs(tmp_path):
    """After a crash the next process gets the old epoch's unacknowledged records back."""
    box = Outbox(tmp_path, "e1")
    box.open()
    for n in range(1, 6):
        box.append(rec(n))
    box.ack("e1", 3)
    box.close()  # no clean shutdown needed: every append was already written
    again = Outbox(tmp_path, "e2")
    resend = again.open()
    assert [r.seq for r in resend] == [4, 5]
    assert resend[0].body == b"body4"


def test_trim_waits_for_ack_and_retention(tmp_path):
    """Records leave memory only when acknowledged and older than the retention window."""
    box = Outbox(tmp_path, "e1", segment_events=2, retention_s=10)
    box.open()
    for n in range(1, 6):
        box.append(rec(n, at=100.0))
    box.trim(now=200.0)
    assert box.pending() == 5  # nothing acknowledged yet
    box.ack("e1", 4)
    box.trim(now=105.0)
    assert box.pending() == 5  # acknowledged but inside the retention window
    box.trim(now=200.0)
    assert box.pending() == 1
    _, missing = box.epochs["e1"].find("seq", "", 1, 4, [])
    assert missing == [(1, 4)]
    assert not (tmp_path / "e1.000000.out").exists()  # seqs 1-2 segment deleted


def test_torn_last_record_is_ignored_on_load(tmp_path):
    """A record cut by a crash mid-write is dropped; the earlier ones survive."""
    box = Outbox(tmp_path, "e1")
    box.open()
    box.append(rec(1))
    box.append(rec(2))
    box.close()
    path = tmp_path / "e1.000000.out"
    path.write_bytes(path.read_bytes()[:-3])
    q = tmp_path / "q"
    assert [r.seq for r in Outbox(tmp_path, "e2", quarantine_dir=q).open()] == [1]
    (kept,) = read_quarantined(q, "outbox")
    assert kept["reason"] == "outbox: torn record" and kept["where"].startswith(f"{path}:@")


def test_acked_marker_is_written_by_trim_and_close_not_by_each_ack(tmp_path):
    """A WATERMARK only moves the watermark in memory; trim() and close() write the marker."""
    marker = tmp_path / "e1.acked"
    box = Outbox(tmp_path, "e1")
    box.open()
    for n in range(1, 6):
        box.append(rec(n))
    box.ack("e1", 2)
    assert not marker.exists()
    box.trim(now=0.0)
    assert marker.exists()
    box.ack("e1", 4)
    box.close()
    again = Outbox(tmp_path, "e2")
    assert [r.seq for r in again.open()] == [5]


def test_a_marker_that_cannot_be_written_does_not_stop_trimming(tmp_path, monkeypatch):
    """Disk full at the marker: trim() still drops what is acknowledged (that frees the disk)."""
    box = Outbox(tmp_path, "e1", retention_s=0.0)
    box.open()
    for n in range(1, 6):
        box.append(rec(n))
    box.ack("e1", 3)

    def full(elog):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(box, "_write_marker", full)
    box.trim(now=1e12)
    assert [r.seq for r in box.epochs["e1"].by_seq.values()] == [4, 5]


def test_records_are_not_tracked_by_the_collector():
    """Outboxed records hold no references the collector must follow (no young collections)."""
    import gc
    assert not gc.is_tracked(rec(1))
