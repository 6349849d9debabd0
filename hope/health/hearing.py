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

Until its first own beat has come back the monitor does not hear yet: a monitor started while
its link is out cannot tell a hung service from a network it cannot reach, so silence from its
start to that first echo does not count (fail-safe: no restart on silence it cannot attribute).
Waiting longer than ``gap_s`` for it is an outage like any other (:meth:`BusHearing.link_out`).

All times are monotonic (``clock.monotonic()``): a wall clock stepped back or forward neither
counts a span twice nor makes one up. Pure logic; unit tests pass a ``ManualClock``'s times.
"""

from __future__ import annotations

from collections import deque

GAP_BEATS = 2.5   # the default gap: this many heartbeat intervals without our own beat back
KEEP_SPANS = 256  # the outages remembered: a service silent across more is not coming back


class BusHearing:
    """The monitor's own heartbeats as they come back through the bus (monotonic seconds)."""

    def __init__(self, gap_s: float, started: float) -> None:
        self.gap_s = gap_s
        self.started = started  # the monitor's start: deaf from here until the first echo
        self.last_echo: float | None = None  # when our latest own beat came back
        self.outages = 0    # gaps seen (the link was out, then came back; not the first echo)
        # (from, to): the spans we could not hear, from our last echo before each gap (or the
        # start) to the echo that ended it
        self.spans: deque[tuple[float, float]] = deque(maxlen=KEEP_SPANS)

    def echo(self, now: float) -> bool:
        """Our own beat came back at ``now``: True when it ends an outage (the link is back)."""
        deaf = self.deaf(now)
        if deaf:
            self.spans.append((self.deaf_since(), now))
        back = deaf and self.last_echo is not None
        self.outages += back
        self.last_echo = now
        return back

    def deaf(self, now: float) -> bool:
        """Not hearing: no own beat back yet, or none for ``gap_s``."""
        return self.last_echo is None or now - self.last_echo > self.gap_s

    def link_out(self, now: float) -> bool:
        """Deaf for longer than ``gap_s``: the link is out (not merely the first echo on its
        way), what /health warns of and the log says."""
        return self.deaf_for(now) > self.gap_s

    def deaf_since(self) -> float:
        """Where the current deaf span starts: our last echo, or the start."""
        return self.started if self.last_echo is None else self.last_echo

    def deaf_for(self, now: float) -> float:
        """How long the current deaf span has lasted (0 while we hear)."""
        return max(0.0, now - self.deaf_since()) if self.deaf(now) else 0.0

    def heard(self, start: float, now: float) -> float:
        """Of the time from ``start`` to ``now``, how much we could hear the bus."""
        spans = list(self.spans)
        if self.deaf(now):
            spans.append((self.deaf_since(), now))
        total = max(0.0, now - start)
        for lo, hi in spans:
            total -= max(0.0, min(hi, now) - max(lo, start))
        return max(0.0, total)

    def describe(self, now: float) -> str:
        """For /health while cut off."""
        if self.last_echo is None:
            what = (f"own heartbeat not back through the bus since the monitor started "
                    f"{self.deaf_for(now):.0f}s ago: bus link out or not up yet")
        else:
            what = (f"own heartbeat not back through the bus for {self.deaf_for(now):.0f}s: "
                    "bus link out")
        return (f"{what}; silence meanwhile does not count (supervisord's states and a local "
                "proxy still do)")
