"""The consumer journal restores cursors and per-handler done sets after a restart."""

from __future__ import annotations

from hope.bus.consumed import ConsumerJournal
from hope.bus.cursor import Cursors
from hope.tails import read_quarantined


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
