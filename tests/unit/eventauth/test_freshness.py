"""The replay rule: ephemeral events fresh and newer per principal; others left to dedupe."""

from __future__ import annotations

from datetime import UTC, datetime

from hope.envelope import new_event, utc_timestamp
from hope.eventauth.freshness import Freshness

NOW = 1_800_000_000.0


def _at(event_type: str, t: float, **payload):
    ts = utc_timestamp(datetime.fromtimestamp(t, UTC))
    base = {"WATERMARK": {"watermarks": {}},
            "HEARTBEAT": {"service": "audit-writer", "pid": 1},
            "CONTROL": {"service": "*", "command": "resume"}}[event_type]
    return new_event(event_type, {**base, **payload}, source="audit-writer", timestamp=ts)


def test_a_watermark_sent_again_is_refused_as_a_replay():
    """The same WATERMARK twice: the second is not newer than the last accepted."""
    f = Freshness(30.0, 300.0)
    wm = _at("WATERMARK", NOW - 1)
    assert f.refusal("audit-writer", wm, NOW) is None
    assert f.refusal("audit-writer", wm, NOW + 1)[0] == "auth_replayed"
    assert f.refusal("audit-writer", _at("WATERMARK", NOW), NOW + 1) is None


def test_an_old_or_future_ephemeral_event_is_stale():
    """Outside the window (old) or too far ahead: auth_stale, even when never seen."""
    f = Freshness(30.0, 300.0)
    assert f.refusal("audit-writer", _at("WATERMARK", NOW - 31), NOW)[0] == "auth_stale"
    assert f.refusal("audit-writer", _at("HEARTBEAT", NOW + 301), NOW)[0] == "auth_stale"


def test_types_and_principals_are_tracked_apart():
    """A heartbeat does not make an older watermark of the same principal a replay."""
    f = Freshness(30.0, 300.0)
    assert f.refusal("audit-writer", _at("HEARTBEAT", NOW), NOW) is None
    assert f.refusal("audit-writer", _at("WATERMARK", NOW - 1), NOW) is None
    assert f.refusal("proxy", _at("HEARTBEAT", NOW - 1), NOW) is None


def test_outboxed_events_are_never_refused_for_age():
    """A day-old CONTROL resent from an outbox passes: (epoch, seq) and event-id dedupe apply."""
    f = Freshness(30.0, 300.0)
    old = _at("CONTROL", NOW - 86400)
    assert f.refusal("operator", old, NOW) is None
    assert f.refusal("operator", old, NOW) is None
