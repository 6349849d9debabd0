"""CircuitBreaker transitions on an injectable wall clock."""

from __future__ import annotations

import pytest

from hope.clock import ManualClock
from hope.execution.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen


def make():
    clock, changes = ManualClock(), []
    b = CircuitBreaker("exchange", failure_threshold=3, reset_timeout_s=30, clock=clock,
                       on_change=lambda n, o, s: changes.append((o, s)))
    return b, clock, changes


def test_opens_after_n_consecutive_failures():
    """N consecutive failures open the breaker; a success in between resets the count."""
    b, _, changes = make()
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state == CLOSED
    b.record_failure()
    assert b.state == OPEN and changes == [(CLOSED, OPEN)]


def test_rejects_fast_while_open():
    """While open, allow() is False and check() raises CircuitOpen."""
    b, clock, _ = make()
    for _ in range(3):
        b.record_failure()
    clock.advance(29)
    assert not b.allow()
    with pytest.raises(CircuitOpen, match="open"):
        b.check()


def test_half_open_single_trial_then_close():
    """After the reset timeout one trial goes through; its success closes the breaker."""
    b, clock, changes = make()
    for _ in range(3):
        b.record_failure()
    clock.advance(30)
    assert b.allow() and b.state == HALF_OPEN
    assert not b.allow()  # only one trial in flight
    b.record_success()
    assert b.state == CLOSED
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_half_open_failure_reopens():
    """A failed trial reopens the breaker and restarts the reset timeout."""
    b, clock, _ = make()
    for _ in range(3):
        b.record_failure()
    clock.advance(30)
    assert b.allow()
    b.record_failure()
    assert b.state == OPEN
    clock.advance(29)
    assert not b.allow()
    clock.advance(1)
    assert b.allow()


def test_tick_moves_open_to_half_open_on_time_without_a_call():
    """The executor's timer ticks the breaker: open becomes half-open after the reset timeout
    with no call made (the risk committee sends none while it is open), the trial still free."""
    b, clock, changes = make()
    for _ in range(3):
        b.record_failure()
    clock.advance(29)
    b.tick()
    assert b.state == OPEN
    clock.advance(1)
    b.tick()
    assert b.state == HALF_OPEN and changes[-1] == (OPEN, HALF_OPEN)
    assert b.allow() and not b.allow()  # the one trial is still there to take
