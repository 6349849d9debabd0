"""Whether the health monitor hears the bus, witnessed by its own heartbeat coming back.

Heartbeats are the monitor's only sign of life from a service, and they reach it through its
own bus link. When that link is out (its host's network to the proxies down, a proxy it cannot
reach) every service falls silent at once, healthy or not; restarting them for it would not
bring the network back and would cost their state (positions reconciled again, caches lost).
The monitor subscribes to heartbeats like everyone, its own included: while its own beat comes
back through the proxy, silence from another service means something; once its own beat has not
come back for ``gap_s``, the monitor is cut off, from the moment its own beat last came back.

A service's silence is counted only while the monitor could hear it (:meth:`BusHearing.heard`):
the spans it was cut off are taken out, the current one too. So an outage of any length
restarts nobody, every service has ``down_after_s`` of heard time after the link's return to
reconnect and beat, and a hang is still found when the link flaps (the heard time adds up
across the gaps). Supervisord's own states need no bus: the monitor still judges its own host's
programs by them while cut off (hope.health.monitor).

Before its first own beat has come back the monitor judges as if it heard (nothing to compare
with). Pure logic on the wall clock the monitor passes in (unit tests: ``ManualClock``).
"""

from __future__ import annotations

from collections import deque

GAP_BEATS = 2.5   # the default gap: this many heartbeat intervals without our own beat back
KEEP_SPANS = 256  # the outages remembered: a service silent across more is not coming back


class BusHearing:
    """The monitor's own heartbeats as they come back through the bus."""

    def __init__(self, gap_s: float) -> None:
        self.gap_s = gap_s
        self.last_echo: float | None = None  # when our latest own beat came back
        self.outages = 0    # gaps seen (the link was out, then came back)
        # (from, to): the spans we were cut off, from our last echo before each gap to its return
        self.spans: deque[tuple[float, float]] = deque(maxlen=KEEP_SPANS)

    def echo(self, now: float) -> bool:
        """Our own beat came back at ``now``: True when it ends a gap (the link is back)."""
        back = self.deaf(now)
        if back:
            assert self.last_echo is not None
            self.spans.append((self.last_echo, now))
            self.outages += 1
        self.last_echo = now
        return back

    def deaf(self, now: float) -> bool:
        """Cut off: our own beat has not come back for ``gap_s``."""
        return self.last_echo is not None and now - self.last_echo > self.gap_s

    def deaf_for(self, now: float) -> float:
        """How long the current outage has lasted (0 while we hear)."""
        return now - self.last_echo if self.deaf(now) and self.last_echo is not None else 0.0

    def heard(self, start: float, now: float) -> float:
        """Of the time from ``start`` to ``now``, how much we could hear the bus."""
        spans = list(self.spans)
        if self.deaf(now) and self.last_echo is not None:
            spans.append((self.last_echo, now))
        total = max(0.0, now - start)
        for lo, hi in spans:
            total -= max(0.0, min(hi, now) - max(lo, start))
        return max(0.0, total)

    def describe(self, now: float) -> str:
        """For /health while cut off."""
        return (f"own heartbeat not back through the bus for {self.deaf_for(now):.0f}s: bus link "
                "out; silence meanwhile does not count (supervisord's states and a local proxy "
                "still do)")
