"""The replay protocol without sockets: pending ranges with backoff, answers with end markers."""

from __future__ import annotations

import pytest

from hope.bus.cursor import ALL, Cursors
from hope.bus.outbox import Outbox, Record
from hope.bus.recovery_protocol import PendingReplays, ReplayGuard, answer, parse_marker


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
                                              "reply_to": "ab12cd", "prefixes": ["SIGNAL"]})
    assert [f[2] for f in frames[:-1]] == [b"body2", b"body3"]
    assert frames[-1][:2] == [b"REPLAYED.ab12cd", b""]
    key, first, last, sent, gone, truncated = parse_marker(frames[-1][2])
    assert (key, first, last, sent, gone) == (("scanner", "e1", ALL), 2, 5, [2, 3], [(4, 5)])
    assert truncated is False
    assert missing == [(4, 5)]


def test_unknown_epoch_is_all_missing_and_bad_requests_are_refused(tmp_path):
    """A range of an epoch this outbox never had is missing; a malformed request is refused."""
    box = Outbox(tmp_path, "e1")
    box.open()
    _, missing = answer(box, "scanner", {"epoch": "nope", "from": 1, "to": 3, "reply_to": "ab12cd"})
    assert missing == [(1, 3)]
    with pytest.raises(ValueError, match="bad replay request"):
        answer(box, "scanner", {"epoch": "e1", "from": 5, "to": 1, "reply_to": "ab12cd"})
    with pytest.raises(ValueError, match="bad replay request"):
        answer(box, "scanner", {"from": 1})


def test_guard_answers_only_epochs_heard_lately_and_rate_limits_each():
    """reply_to must be an epoch heard within alive_s; each requester gets a burst, then rate."""
    guard = ReplayGuard(rate_per_s=2.0, burst=3, alive_s=30.0)
    req = {"reply_to": "ab12cd"}
    assert guard.admit(req, 0.0) == "replay_reply_to_unknown"
    guard.heard("ab12cd", 0.0)
    guard.heard("not hex!", 0.0)  # ignored: never a bus epoch
    assert [guard.admit(req, 0.0) for _ in range(4)] == [None, None, None, "replay_rate_limited"]
    assert guard.admit(req, 0.5) is None  # 2 per second refill
    assert guard.admit({"reply_to": "not hex!"}, 0.5) == "replay_reply_to_unknown"
    assert guard.admit(req, 31.0) == "replay_reply_to_unknown"  # not heard for 31 s


def test_answer_is_capped_in_bytes_and_says_truncated(tmp_path):
    """A 20,000-record request answers at most max_bytes of records, ends early, truncated."""
    box = Outbox(tmp_path, "e1")
    box.open()
    for n in range(1, 20_001):
        box.append(Record(n, n, "SIGNAL", b"SIGNAL.X", b"x" * 270))
    frames, missing = answer(box, "scanner", {"epoch": "e1", "from": 1, "to": 20_000,
                                              "by": "seq", "reply_to": "ab12cd"},
                             max_bytes=100_000)
    sent_bytes = sum(len(f[1]) + len(f[2]) for f in frames[:-1])
    assert sent_bytes <= 100_000 and missing == []
    key, first, last, sent, gone, truncated = parse_marker(frames[-1][2])
    assert truncated and first == 1 and last == len(sent) == len(frames) - 1 < 20_000


def test_reply_to_must_look_like_an_epoch(tmp_path):
    """A reply_to that is no bus epoch (any topic text) is a malformed request."""
    box = Outbox(tmp_path, "e1")
    box.open()
    with pytest.raises(ValueError, match="reply_to"):
        answer(box, "scanner", {"epoch": "e1", "from": 1, "to": 2, "reply_to": "x.SIGNAL"})


def test_pending_range_is_due_again_at_once_after_a_truncated_answer():
    """retry_now makes a backed-off range due immediately."""
    from hope.bus.cursor import Cursors
    pending, cursors = PendingReplays(), Cursors(track_all=True)
    key = ("scanner", "e1", ALL)
    pending.want(key, 1, 10)
    assert pending.due(cursors, 0.0, 1.0) and not pending.due(cursors, 0.1, 1.0)
    pending.retry_now(key)
    assert pending.due(cursors, 0.1, 1.0) == [(key, 1, 10)]
