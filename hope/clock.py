"""The two clocks of CONVENTIONS: wall time for transport and timeouts, market time for trading."""

from __future__ import annotations

import time


class WallClock:
    """Real time: ``time()`` for timestamps, ``monotonic()`` for durations."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock(WallClock):
    """A wall clock tests move by hand, so backoff and timeouts are tested without waiting."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MarketClock:
    """Market time: the latest ``market_ts`` seen (seconds since the epoch, UTC). Never goes back."""

    def __init__(self) -> None:
        self._now: float | None = None

    def observe(self, market_ts: float) -> None:
        if self._now is None or market_ts > self._now:
            self._now = float(market_ts)

    def now(self) -> float | None:
        """None until the first observation: trading logic must treat that as missing data."""
        return self._now
