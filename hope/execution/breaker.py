"""A circuit breaker around the exchange: closed → open after N failures → half-open trial.

Transport concern, so it runs on the wall clock (monotonic). Every state change calls
``on_change(name, old, new)``; the executor turns that into a BREAKER event so the risk committee
SKIPs while the breaker is open; its state is also in the executor's heartbeat.
"""

from __future__ import annotations

from collections.abc import Callable

from hope.clock import WallClock

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitOpen(Exception):
    """Rejected fast: the breaker is open (or its half-open trial is already in flight)."""


class CircuitBreaker:
    def __init__(self, name: str, *, failure_threshold: int = 3, reset_timeout_s: float = 30.0,
                 clock: WallClock | None = None,
                 on_change: Callable[[str, str, str], None] | None = None) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self.clock = clock or WallClock()
        self.on_change = on_change
        self.state = CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    def _set(self, new: str) -> None:
        old, self.state = self.state, new
        if old != new and self.on_change:
            self.on_change(self.name, old, new)

    def tick(self) -> None:
        """Open → half-open once the reset timeout has passed. Called on a timer as well as on
        each call: the risk committee SKIPs while the breaker is open, so without the timer no
        call would ever come to move it, and an open breaker would stay open for good."""
        if self.state == OPEN and self.clock.monotonic() - self._opened_at >= self.reset_timeout_s:
            self._set(HALF_OPEN)
            self._trial_in_flight = False

    def allow(self) -> bool:
        """May a call go through now? Open → half-open once the reset timeout has passed."""
        self.tick()
        if self.state == CLOSED:
            return True
        if self.state == HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True  # exactly one trial call probes the venue
            return True
        return False

    def check(self) -> None:
        """Raise CircuitOpen unless a call may go through."""
        if not self.allow():
            raise CircuitOpen(f"circuit breaker {self.name} is {self.state}")

    def record_success(self) -> None:
        self.failures = 0
        self._trial_in_flight = False
        self._set(CLOSED)

    def record_failure(self) -> None:
        self.failures += 1
        self._trial_in_flight = False
        if self.state == HALF_OPEN or self.failures >= self.failure_threshold:
            self._opened_at = self.clock.monotonic()
            self._set(OPEN)
