"""Test helpers for the health monitor, shipped with it: clocks for unit tests that judge on a
manual clock (no sockets, no waiting).

- :class:`HeardClock`: the monitor hears the bus. Attached to a monitor, it delivers the
  monitor's own heartbeat back at once and every ``beat_s`` of every :meth:`advance`, as a
  monitor whose link is up sees it; silence from the other services is then judged on its own.
- :class:`SteppedClock`: a wall clock that can be stepped (NTP, an operator's ``date -s``)
  while the monotonic clock goes on.
"""

from __future__ import annotations

from hope.clock import ManualClock
from hope.health.monitor import HealthMonitor


class SteppedClock(ManualClock):
    """``time()`` and ``monotonic()`` apart: :meth:`advance` moves both, :meth:`step` the wall
    clock alone."""

    def __init__(self, start: float = 1_700_000_000.0, mono: float = 100.0) -> None:
        super().__init__(start)
        self.mono = mono

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds

    def step(self, seconds: float) -> None:
        """The wall clock jumps by ``seconds`` (negative: back); monotonic time does not."""
        self.now += seconds


class HeardClock(SteppedClock):
    """A clock whose monitor hears the bus: its own beat comes back every ``beat_s``."""

    def __init__(self, start: float = 1_700_000_000.0, beat_s: float = 1.0) -> None:
        super().__init__(start, mono=start)
        self.beat_s = beat_s
        self.monitor: HealthMonitor | None = None

    def attach(self, monitor: HealthMonitor) -> HealthMonitor:
        """Hear ``monitor``'s own beat now and on every advance; returns the monitor."""
        self.monitor = monitor
        self.echo()
        return monitor

    def echo(self) -> None:
        if self.monitor is not None:
            self.monitor.on_heartbeat({"service": self.monitor.self_name, "pid": 1})

    def advance(self, seconds: float) -> None:
        left = seconds
        while left > 1e-9:
            step = min(self.beat_s, left)
            super().advance(step)
            left -= step
            self.echo()
