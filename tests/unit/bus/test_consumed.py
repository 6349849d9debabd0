"""The consumer journal restores cursors and per-handler done sets after a restart; idempotent
events are gathered as coverage and written once per read batch."""

from __future__ import annotations

import os
from collections import OrderedDict

from hope.bus.consumed import ConsumerJournal
from hope.bus.cursor import Cursors
from hope.codec import decode_obj
from hope.tails import read_frames, read_quarantined


def test_restart_restores_cursor_and_done_handlers(tmp_path):
    """What was consumed before a crash is known after it: cursor low and handler dedupe."""
    path = tmp_path / "consumed.log"
    j = ConsumerJournal(path, Cursors(track_all=False))
    j.open()
    for n in (1, 2, 3):
        j.consumed("scanner", "e1", "SIGNAL", n, f"id{n}", ["decide"])
    j.covered("scanner", "e1", "SIGNAL", 4, 6)
    j.close()
    cursors = Cursors(track_all=False)
    again = ConsumerJournal(path, cursors)
    again.open()
    assert cursors.get(("scanner", "e1", "SIGNAL")).low == 6
    assert again.is_done("decide", "id2") and not again.is_done("other", "id2")


def test_any_handler_marker_covers_every_handler(tmp_path):
    """A causation found in our own outbox marks the event done for every handler."""
    j = ConsumerJournal(tmp_path / "c.log", Cursors(track_all=True))
    j.open()
    j.mark_done("idX", ["*"])
    assert j.is_done("whatever", "idX")


def test_torn_tail_is_ignored(tmp_path):
    """A journal cut mid-record by SIGKILL loads everything before the cut."""
    path = tmp_path / "c.log"
    j = ConsumerJournal(path, Cursors(track_all=True))
    j.open()
    j.consumed("scanner", "e1", "SIGNAL", 1, "id1", ["h"])
    j.consumed("scanner", "e1", "SIGNAL", 2, "id2", ["h"])
    j.close()
    path.write_bytes(path.read_bytes()[:-2])
    cursors = Cursors(track_all=True)
    ConsumerJournal(path, cursors, quarantine_dir=tmp_path / "q").open()
    assert cursors.get(("scanner", "e1", "*")).low == 1
    (kept,) = read_quarantined(tmp_path / "q", "consumer-journal")
    assert kept["reason"] == "consumer journal: torn record" and kept["data"]


def test_done_sets_filed_under_pre_upgrade_handler_names_still_dedupe(tmp_path):
    """A journal written when handlers were closures (setup.<locals>.x) dedupes for x."""
    path = tmp_path / "c.log"
    j = ConsumerJournal(path, Cursors(track_all=True))
    j.open()
    j.consumed("scanner", "e1", "DECISION", 1, "id1", ["setup.<locals>.on_decision"])
    j.mark_done("id2", ["setup.<locals>.on_price"])
    j.close()
    again = ConsumerJournal(path, Cursors(track_all=True))
    again.open()
    assert again.is_done("on_decision", "id1") and again.is_done("on_price", "id2")


class Writes:
    """Counts the ``os.write`` calls the journal makes (and still writes)."""

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        real = os.write

        def write(fd: int, data: bytes) -> int:
            self.count += 1
            return real(fd, data)

        monkeypatch.setattr("hope.bus.consumed.os.write", write)


def records(path) -> list[list]:
    frames, end = read_frames(path.read_bytes())
    assert end == path.stat().st_size
    return [decode_obj(chunk) for _, chunk in frames]


def opened(path, track_all: bool = False) -> tuple[ConsumerJournal, Cursors]:
    cursors = Cursors(track_all=track_all)
    journal = ConsumerJournal(path, cursors)
    journal.open()
    return journal, cursors


def test_settled_numbers_coalesce_into_one_range_per_run_and_stream(tmp_path):
    """Consecutive numbers of a stream become one c record; a jump or another stream starts one."""
    path = tmp_path / "c.log"
    j, _ = opened(path)
    for n in (1, 2, 3, 5, 6, 4):
        j.settled("scanner", "e1", "PRICE", n)
    j.settled("gateway", "e9", "PRICE", 7)
    j.flush()
    assert records(path) == [["c", "scanner", "e1", "PRICE", 1, 3],
                             ["c", "scanner", "e1", "PRICE", 5, 6],
                             ["c", "scanner", "e1", "PRICE", 4, 4],
                             ["c", "gateway", "e9", "PRICE", 7, 7]]


def test_a_read_batch_of_idempotent_events_is_one_write_and_keeps_no_ids(tmp_path, monkeypatch):
    """256 settled events cost one os.write at flush, nothing before it, and no remembered id."""
    path = tmp_path / "c.log"
    j, _ = opened(path)
    writes = Writes(monkeypatch)
    for n in range(1, 257):
        j.settled("scanner", "e1", "PRICE", n)
    assert writes.count == 0 and path.stat().st_size == 0
    j.flush()
    j.flush()  # nothing gathered since: no write
    assert writes.count == 1 and j.done == OrderedDict()
    assert records(path) == [["c", "scanner", "e1", "PRICE", 1, 256]]


def test_an_other_event_between_idempotent_ones_keeps_its_exact_record_in_order(
        tmp_path, monkeypatch):
    """A SIGNAL after two PRICEs is written with their coverage before it, in one write; its
    id is remembered, theirs not; the PRICEs after it wait for the flush."""
    path = tmp_path / "c.log"
    j, _ = opened(path)
    writes = Writes(monkeypatch)
    j.settled("scanner", "e1", "PRICE", 1)
    j.settled("scanner", "e1", "PRICE", 2)
    j.consumed("scanner", "e1", "SIGNAL", 1, "sig1", ["on_signal"])
    j.settled("scanner", "e1", "PRICE", 3)
    assert writes.count == 1
    j.flush()
    assert writes.count == 2
    assert records(path) == [["c", "scanner", "e1", "PRICE", 1, 2],
                             ["e", "scanner", "e1", "SIGNAL", 1, "sig1", ["on_signal"]],
                             ["c", "scanner", "e1", "PRICE", 3, 3]]
    assert list(j.done) == ["sig1"] and j.is_done("on_signal", "sig1")


def test_restart_restores_cursors_from_coverage_and_compaction_keeps_them(tmp_path):
    """Cursors rebuilt from c ranges (a hole kept as a hole) equal the ones before the restart,
    and a second restart (over the compacted file) gives the same again."""
    path = tmp_path / "c.log"
    j, before = opened(path, track_all=True)
    for n in (1, 2, 3, 4, 7, 8):
        before.observe(("scanner", "e1", "*"), n)
        j.settled("scanner", "e1", "PRICE", n)
    j.close()  # flushes what was gathered
    for _ in range(2):
        again, cursors = opened(path, track_all=True)
        cur = cursors.get(("scanner", "e1", "*"))
        assert (cur.low, cur.above) == (4, {7, 8}) and cur.holes() == [(5, 6)]
        assert again.done == OrderedDict()
        again.close()


def test_coverage_not_flushed_before_a_crash_is_missing_after_it(tmp_path):
    """What was gathered but never flushed (SIGKILL) is not covered: it is asked for again."""
    path = tmp_path / "c.log"
    j, _ = opened(path)
    j.settled("scanner", "e1", "PRICE", 1)
    j.flush()
    j.settled("scanner", "e1", "PRICE", 2)
    os.close(j._fd)  # the process dies: no close(), no flush
    _, cursors = opened(path)
    assert cursors.get(("scanner", "e1", "PRICE")).low == 1


def test_a_batched_write_torn_mid_record_keeps_the_whole_records_before_the_cut(tmp_path):
    """A batch cut by SIGKILL inside its last c record loads the records before it, with the
    evidence quarantined, as for any record."""
    path = tmp_path / "c.log"
    j, _ = opened(path)
    j.settled("scanner", "e1", "PRICE", 1)
    j.settled("gateway", "e9", "PRICE", 1)
    j.flush()
    j.close()
    path.write_bytes(path.read_bytes()[:-2])
    cursors = Cursors(track_all=False)
    ConsumerJournal(path, cursors, quarantine_dir=tmp_path / "q").open()
    assert cursors.get(("scanner", "e1", "PRICE")).low == 1
    assert cursors.get(("gateway", "e9", "PRICE")).low == 0
    (kept,) = read_quarantined(tmp_path / "q", "consumer-journal")
    assert kept["reason"] == "consumer journal: torn record"


def test_several_handlers_of_one_event_are_remembered_and_restored(tmp_path):
    """An event finished by two handlers is done for both, also after compaction on restart."""
    path = tmp_path / "c.log"
    j = ConsumerJournal(path, Cursors(track_all=False))
    j.open()
    j.consumed("scanner", "e1", "SIGNAL", 1, "id1", ["decide"])
    j.mark_done("id1", ["shadow"])
    j.consumed("scanner", "e1", "SIGNAL", 2, "id2", ["decide"])
    assert j.is_done("decide", "id1") and j.is_done("shadow", "id1")
    assert not j.is_done("decid", "id2") and not j.is_done("shadow", "id2")
    j.close()
    again = ConsumerJournal(path, Cursors(track_all=False))
    again.open()
    again.close()  # compacted
    third = ConsumerJournal(path, Cursors(track_all=False))
    third.open()
    assert third.is_done("decide", "id1") and third.is_done("shadow", "id1")
    assert third.is_done("decide", "id2") and not third.is_done("shadow", "id2")
