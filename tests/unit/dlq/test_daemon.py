"""Tests for hope.dlq.daemon: the retry state machine, driven by a manual clock."""

import pytest

from hope.clock import ManualClock, MarketClock
from hope.dlq.config import DlqConfig
from hope.dlq.daemon import BadDeadLetter, RetryDaemon
from hope.dlq.store import DlqStore

EVENT = {"event_id": "sha256:e1", "event_type": "ORDER", "payload": {"symbol": "EVXBTC"}}


def _dl(attempt=1, error="boom", error_type="RuntimeError", event=EVENT):
    return {"service": "executor", "handler": "on_order", "error": error, "attempt": attempt,
            "event": event, "error_type": error_type}


@pytest.fixture
def rig(tmp_path):
    clock, market = ManualClock(1000.0), MarketClock()
    cfg = DlqConfig(max_retries=3, min_backoff_s=1.0, max_backoff_s=8.0, jitter=False,
                    success_after_s=5.0, max_market_age_s=60.0)
    store = DlqStore(tmp_path / "dlq.sqlite3")
    daemon = RetryDaemon(store, cfg, clock=clock, market_clock=market)
    yield daemon, clock, market, cfg, tmp_path
    store.close()


def _send_due(daemon):
    retries, alerts = daemon.due()
    for letter, _ in retries:
        daemon.mark_sent(letter)
    return [p for _, p in retries], alerts


def test_fails_twice_then_succeeds_is_done(rig):
    """Two failures are retried with backoff; silence after the second retry marks it done."""
    daemon, clock, *_ = rig
    daemon.on_dead_letter(_dl(1), "dl-ev-1")
    assert _send_due(daemon) == ([], [])          # backoff 1 s not elapsed
    clock.advance(1.0)
    sent, _ = _send_due(daemon)
    assert sent[0]["attempt"] == 2 and sent[0]["service"] == "executor"
    assert sent[0]["event"] == EVENT and sent[0]["handler"] == "on_order"
    daemon.on_dead_letter(_dl(2), "dl-ev-2")
    clock.advance(1.9)
    assert _send_due(daemon)[0] == []             # second backoff is 2 s
    clock.advance(0.1)
    assert len(_send_due(daemon)[0]) == 1
    clock.advance(5.0)
    assert len(daemon.confirm()) == 1
    assert daemon.depth() == {"pending": 0, "retrying": 0, "parked": 0, "done": 1}


def test_always_failing_is_parked_with_every_error(rig):
    """After max_retries+1 failures the letter is parked, keeps all errors and raises an ALERT."""
    daemon, clock, *_ = rig
    alerts = []
    for n in range(1, 5):
        alerts += daemon.on_dead_letter(_dl(n, error=f"boom {n}"), f"dl-{n}")
        clock.advance(10.0)
        _send_due(daemon)
    (letter,) = daemon.store.list()
    assert letter.status == "parked" and letter.attempts == 4
    assert [e["error"] for e in letter.errors] == ["boom 1", "boom 2", "boom 3", "boom 4"]
    assert len(alerts) == 1 and alerts[0][0] == "ALERT"
    assert alerts[0][1]["kind"] == "dlq_parked" and alerts[0][1]["attempts"] == 4


def test_restart_mid_backoff_neither_loses_nor_retries_early(rig):
    """A new daemon on the same store waits out the persisted backoff, then retries once."""
    daemon, clock, market, cfg, tmp_path = rig
    daemon.on_dead_letter(_dl(1), "a")
    clock.advance(1.0)
    _send_due(daemon)
    daemon.on_dead_letter(_dl(2), "b")            # next attempt at +2 s
    daemon.store.close()
    clock.advance(1.0)
    store2 = DlqStore(tmp_path / "dlq.sqlite3")
    fresh = RetryDaemon(store2, cfg, clock=clock, market_clock=MarketClock())
    assert _send_due(fresh)[0] == []
    clock.advance(1.0)
    sent, _ = _send_due(fresh)
    assert [p["attempt"] for p in sent] == [3]
    assert _send_due(fresh)[0] == []
    store2.close()
    daemon.store = DlqStore(tmp_path / "dlq.sqlite3")  # let the fixture close something open


def test_redelivered_dead_letter_counts_once(rig):
    """The same DEAD_LETTER event id filed twice adds one error, not two."""
    daemon, *_ = rig
    daemon.on_dead_letter(_dl(1), "same")
    daemon.on_dead_letter(_dl(1), "same")
    (letter,) = daemon.store.list()
    assert letter.attempts == 1 and daemon.stats["duplicates"] == 1


def test_non_retryable_parks_immediately(rig):
    """A DecodeError failure is parked on first sight with an ALERT."""
    daemon, *_ = rig
    alerts = daemon.on_dead_letter(_dl(1, error_type="DecodeError"), "x")
    assert daemon.store.list()[0].status == "parked" and alerts[0][1]["reason"].startswith("non")


def test_trading_event_stale_while_waiting_is_parked_not_sent(rig):
    """A SIGNAL that goes stale on the market clock during backoff is parked, never retried."""
    daemon, clock, market, *_ = rig
    sig = {"event_id": "sha256:s", "event_type": "SIGNAL", "payload": {"market_ts": 5000.0}}
    market.observe(5000.0)
    daemon.on_dead_letter(_dl(1, event=sig), "s1")
    market.observe(5061.0)
    clock.advance(1.0)
    sent, alerts = _send_due(daemon)
    assert sent == [] and "stale" in alerts[0][1]["reason"]


def test_operator_retry_of_parked_letter_sends_once_more(rig):
    """CONTROL retry on a parked (stale) letter sends it despite staleness; a new failure parks."""
    daemon, clock, market, *_ = rig
    sig = {"event_id": "sha256:s", "event_type": "SIGNAL", "payload": {"market_ts": 1.0}}
    market.observe(10_000.0)
    daemon.on_dead_letter(_dl(1, event=sig), "s1")
    assert daemon.store.list()[0].status == "parked"
    ids = daemon.on_control({"service": "dlq-retry", "command": "retry", "all": True})
    assert len(ids) == 1
    assert len(_send_due(daemon)[0]) == 1
    daemon.on_dead_letter(_dl(2, event=sig), "s2")
    assert daemon.store.list()[0].status == "parked"


def test_retry_ok_confirms_at_once(rig):
    """CONTROL retry_ok marks a retrying letter done without waiting for the window."""
    daemon, clock, *_ = rig
    daemon.on_dead_letter(_dl(1), "a")
    clock.advance(1.0)
    sent, _ = _send_due(daemon)
    daemon.on_control({"command": "retry_ok", "dlq_id": sent[0]["dlq_id"]})
    assert daemon.store.list()[0].status == "done"


def test_retries_wait_for_a_live_target(rig):
    """With live_after_s set, a due letter waits until its service has sent a heartbeat."""
    daemon, clock, *_ = rig
    daemon.live_after_s = 5.0
    daemon.on_dead_letter(_dl(1), "a")
    clock.advance(2.0)
    assert _send_due(daemon)[0] == []
    daemon.on_heartbeat("executor")
    assert len(_send_due(daemon)[0]) == 1


@pytest.mark.parametrize("payload,field", [
    ({"handler": "h", "error": "e", "event": EVENT}, "service"),
    ({"service": "s", "handler": "h", "error": "e", "event": "x"}, "event"),
    ({"service": "s", "handler": "h", "error": "e", "event": {}}, "event_id"),
])
def test_bad_dead_letter_names_the_field(rig, payload, field):
    """A malformed DEAD_LETTER payload raises BadDeadLetter naming the missing field."""
    daemon, *_ = rig
    with pytest.raises(BadDeadLetter, match=field):
        daemon.on_dead_letter(payload, "z")


def test_done_letters_are_forgotten_after_keep_done_s(rig):
    """A done letter stays for keep_done_s, then confirm() deletes it."""
    daemon, clock, *_ = rig
    daemon.cfg.keep_done_s = 100.0
    daemon.on_dead_letter(_dl(1), "a")
    clock.advance(1.0)
    _send_due(daemon)
    clock.advance(5.0)
    daemon.confirm()
    clock.advance(99.0)
    daemon.confirm()
    assert daemon.depth()["done"] == 1
    clock.advance(2.0)
    daemon.confirm()
    assert daemon.store.list() == []
