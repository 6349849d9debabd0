"""SeqBook: which (publisher, epoch, seq) the log already holds, learnt from records and GAPs."""

from __future__ import annotations

from hope.audit.seqbook import SeqBook
from tests.helpers import ev


def test_held_seqs_are_recognised_at_any_age_and_holes_are_not():
    """A seq below the low mark or above it is held; a hole and another epoch are not."""
    book = SeqBook()
    for seq in (1, 2, 3, 5):
        book.track("scanner", "e1").add(seq)
    assert book.held(ev(1)) and book.held(ev(5))
    assert not book.held(ev(4)) and not book.held(ev(1, epoch="e2"))


def test_unsequenced_events_are_never_held():
    """Without delivery fields there is nothing to look up: the id window decides."""
    env = ev(1)
    env.publisher, env.epoch, env.seq = "", "", 0
    assert not SeqBook().held(env)


def test_gap_settles_the_watermark_but_does_not_hold_the_seqs():
    """A GAP moves the low mark past its range, learnt from a record too, yet its seqs stay
    writable should the event turn up."""
    book = SeqBook()
    book.learn({"event_type": "GAP", "payload": {"publisher": "scanner", "epoch": "e1",
                                                 "from": 1, "to": 3}})
    assert book.lows() == {("scanner", "e1"): 3}
    assert not book.held(ev(2))
    book.track("scanner", "e1").add(4)
    assert book.held(ev(4))
