"""The replay protocol without sockets: pending ranges with backoff, answers with end markers."""

from __future__ import annotations

import pytest

from hope.bus.cursor import ALL, Cursors
from hope.bus.outbox import Outbox, Record
from hope.bus.recovery_protocol import PendingReplays, answer, parse_marker


def test_pending_ranges_are_asked_with_backoff_and_forgotten_once_settled():
    """A missing range is requested now, not again before its backoff, and dropped when filled."""
    cursors = Cursors(track_all=True)
    key = ("scanner", "e1", ALL)
    cursors.observe(key, 5)
    pending = PendingReplays()
    pending.want(key, 1, 4)
    assert pending.due(cursors, now=100.0, timeout=1.0) == [(key, 1, 4)]
    assert pending.due(cursors, now=100.5, timeout=1.0) == []  # backing off
    assert pending.due(cursors, now=101.1, timeout=1.0) == [(key, 1, 4)]
    cursors.get(key).cover(1, 4)
    assert pending.due(cursors, now=200.0, timeout=1.0) == [] and len(pending) == 0


def test_answer_sends_matching_records_then_a_marker_naming_what_is_missing(tmp_path):
    """The answer holds the matching records and a marker with sent numbers and missing ranges."""
    box = Outbox(tmp_path, "e1")
    box.open()
    for n in (1, 2, 3):
        box.append(Record(n, n, "SIGNAL", b"SIGNAL.X", b"body%d" % n))
    frames, missing = answer(box, "scanner", {"epoch": "e1", "from": 2, "to": 5, "by": "seq",
                                              "reply_to": "r1", "prefixes": ["SIGNAL"]})
    assert [f[2] for f in frames[:-1]] == [b"body2", b"body3"]
    assert frames[-1][:2] == [b"REPLAYED.r1", b""]
    key, first, last, sent, gone = parse_marker(frames[-1][2])
    assert (key, first, last, sent, gone) == (("scanner", "e1", ALL), 2, 5, [2, 3], [(4, 5)])
    assert missing == [(4, 5)]


def test_unknown_epoch_is_all_missing_and_bad_requests_are_refused(tmp_path):
    """A range of an epoch this outbox never had is missing; a malformed request is refused."""
    box = Outbox(tmp_path, "e1")
    box.open()
    _, missing = answer(box, "scanner", {"epoch": "nope", "from": 1, "to": 3, "reply_to": "r"})
    assert missing == [(1, 3)]
    with pytest.raises(ValueError, match="bad replay request"):
        answer(box, "scanner", {"epoch": "e1", "from": 5, "to": 1, "reply_to": "r"})
    with pytest.raises(ValueError, match="bad replay request"):
        answer(box, "scanner", {"from": 1})
