"""Whether the health monitor hears the bus, witnessed by its own heartbeat coming back.

Heartbeats are the monitor's only sign of life from a service, and they reach it through its
own bus link. When that link is out (its host's network to the proxies down, a proxy it cannot
reach) every service falls silent at once, healthy or not; restarting them for it would not
bring the network back and would cost their state (positions reconciled again, caches lost).
The monitor subscribes to heartbeats like everyone, its own included: while its own beat comes
back through the proxy, silence from another service means something; once its own beat has not
come back for ``gap_s``, the monitor is cut off and judges nobody on silence (but a proxy of its
own host, whose link is not the network: a hung local proxy is still restarted). Once its own
beat is back, silence counts from that moment: every service gets the full ``down_after_s`` to
reconnect and beat again, so a hang is detected that long after the link came back, not before.

Before its first own beat has come back the monitor judges as if it heard (nothing to compare
with). Pure logic on the wall clock the monitor passes in (unit tests: ``ManualClock``).
"""

from __future__ import annotations

GAP_BEATS = 2.5  # the default gap: this many heartbeat intervals without our own beat back


class BusHearing:
    """The monitor's own heartbeats as they come back through the bus."""

    def __init__(self, gap_s: float, now: float) -> None:
        self.gap_s = gap_s
        self.last_echo: float | None = None  # when our latest own beat came back
        self.since = now    # from when we have heard without a gap (start, or the link's return)
        self.outages = 0    # gaps seen (the link was out, then came back)

    def echo(self, now: float) -> bool:
        """Our own beat came back at ``now``: True when it ends a gap (the link is back)."""
        back = self.last_echo is not None and now - self.last_echo > self.gap_s
        if back:
            self.since = now
            self.outages += 1
        self.last_echo = now
        return back

    def deaf(self, now: float) -> bool:
        """Cut off: our own beat has not come back for ``gap_s``."""
        return self.last_echo is not None and now - self.last_echo > self.gap_s

    def silent_for(self, last_beat: float, now: float) -> float:
        """How long a service whose last beat came at ``last_beat`` has been silent while we
        could hear it: counted from our link's return when that came later."""
        return now - max(last_beat, self.since)

    def describe(self, now: float) -> str:
        """For /health's warnings while cut off."""
        return (f"own heartbeat not back through the bus for {now - (self.last_echo or now):.0f}s:"
                f" bus link out, no service judged on silence until it is back")
