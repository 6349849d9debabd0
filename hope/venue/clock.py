"""The venue's clock as HOPE sees it: server time minus local wall time, from ``GET /api/v3/time``.

The venue accepts a signed request only when ``timestamp < server + 1000 ms`` and
``server - timestamp <= recvWindow`` (else ``-1021``), so every signed request is stamped with
the local wall clock corrected by this offset. One estimate is the median of several samples,
each corrected by half its round trip (``offset = server - (sent + rtt / 2)``); samples whose
round trip is too long to be informative are dropped. The estimate is renewed every
``refresh_s``, at once after a ``-1021``, and every ``recheck_s`` (10 s) while the offset is
beyond its threshold, so trading comes back soon after the clock is put right. An offset beyond
``max_offset_ms`` (or none at all, or one too old) opens the executor's breaker with the reason
:meth:`ClockOffset.breaker_reason` returns: a clock that far off means the host's time, and
everything stamped with it, is wrong.

Exported on ``/metrics`` as ``hope_venue_clock_offset_ms`` (gauge; see :meth:`snapshot`).
Transport concern: the wall clock throughout (``time()`` for stamps, ``monotonic()`` for ages).
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hope.clock import WallClock

TIMESTAMP_ERROR = -1021   # "Timestamp for this request is outside of the recvWindow."
METRIC = "hope_venue_clock_offset_ms"


class ClockEstimateError(RuntimeError):
    """No usable ``/time`` sample: the offset stays what it was (and ages)."""


@dataclass(frozen=True)
class Sample:
    """One ``/time`` answer: the offset it implies and the round trip it took (ms)."""

    offset_ms: float
    rtt_ms: float


class ClockOffset:
    """Server-minus-local offset of one venue, re-estimated when due; pure but for ``fetch``."""

    def __init__(self, fetch_server_ms: Callable[[], Awaitable[int]], *,
                 clock: WallClock | None = None, samples: int = 5,
                 max_offset_ms: float = 1000.0, max_rtt_ms: float = 2000.0,
                 refresh_s: float = 300.0, max_age_s: float | None = None,
                 recheck_s: float = 10.0) -> None:
        if samples < 1:
            raise ValueError("samples: must be >= 1")
        self.fetch = fetch_server_ms
        self.clock = clock or WallClock()
        self.samples = samples
        self.max_offset_ms = max_offset_ms
        self.max_rtt_ms = max_rtt_ms
        self.refresh_s = refresh_s
        self.recheck_s = min(recheck_s, refresh_s)
        self.max_age_s = max_age_s if max_age_s is not None else 3 * refresh_s
        self.offset_ms: float | None = None
        self.rtt_ms: float | None = None       # median round trip of the last estimate
        self.estimated_at: float | None = None  # monotonic
        self.estimates = 0
        self.failures = 0                      # estimates that found no usable sample
        self.timestamp_errors = 0              # -1021 answers reported
        self._stale = True

    async def sample(self) -> Sample:
        """One ``/time`` round trip."""
        sent = self.clock.time() * 1000.0
        server = await self.fetch()
        received = self.clock.time() * 1000.0
        rtt = max(0.0, received - sent)
        return Sample(offset_ms=float(server) - (sent + rtt / 2.0), rtt_ms=rtt)

    async def estimate(self) -> float:
        """Take ``samples`` samples and keep the median offset; raises ClockEstimateError."""
        good: list[Sample] = []
        errors: list[str] = []
        for _ in range(self.samples):
            try:
                s = await self.sample()
            except Exception as exc:  # a failed /time is one lost sample, never a crash
                errors.append(f"{type(exc).__name__}: {exc}"[:120])
                continue
            if s.rtt_ms <= self.max_rtt_ms:
                good.append(s)
        if not good:
            self.failures += 1
            self._stale = True  # try again at the next refresh, not refresh_s later
            detail = errors[-1] if errors else f"every round trip > {self.max_rtt_ms:g} ms"
            raise ClockEstimateError(f"clock offset: no usable /time sample ({detail})")
        self.offset_ms = statistics.median(s.offset_ms for s in good)
        self.rtt_ms = statistics.median(s.rtt_ms for s in good)
        self.estimated_at = self.clock.monotonic()
        self.estimates += 1
        self._stale = False
        return self.offset_ms

    def due(self) -> bool:
        """Is a new estimate needed (none yet, older than ``refresh_s``, or ``recheck_s`` while
        the offset is beyond its threshold, or after a -1021)?"""
        if self._stale or self.estimated_at is None:
            return True
        off = self.offset_ms is not None and abs(self.offset_ms) > self.max_offset_ms
        every = self.recheck_s if off else self.refresh_s
        return self.clock.monotonic() - self.estimated_at >= every

    async def refresh_if_due(self) -> bool:
        """Estimate when :meth:`due`; True when it did (failures raise ClockEstimateError)."""
        if not self.due():
            return False
        await self.estimate()
        return True

    def on_venue_error(self, code: int) -> None:
        """Report a venue error code: ``-1021`` makes a new estimate due at once."""
        if code == TIMESTAMP_ERROR:
            self.timestamp_errors += 1
            self._stale = True

    def now_ms(self) -> int:
        """The ``timestamp`` of a signed request: local wall time corrected by the offset."""
        return int(self.clock.time() * 1000.0 + (self.offset_ms or 0.0))

    def age_s(self) -> float | None:
        if self.estimated_at is None:
            return None
        return self.clock.monotonic() - self.estimated_at

    def breaker_reason(self) -> str | None:
        """Why trading must stop on account of time, or None while the offset is trusted."""
        if self.offset_ms is None:
            return "breaker open: clock offset unknown (no /time estimate yet)"
        age = self.age_s() or 0.0
        if age > self.max_age_s:
            return (f"breaker open: clock offset estimate {age:.0f} s old "
                    f"(> {self.max_age_s:.0f} s; /time unreachable?)")
        if abs(self.offset_ms) > self.max_offset_ms:
            side = "behind" if self.offset_ms > 0 else "ahead of"
            return (f"breaker open: clock offset {abs(self.offset_ms):.0f} ms > "
                    f"{self.max_offset_ms:.0f} ms (this host is {side} the venue)")
        return None

    def snapshot(self) -> dict[str, float | int | None]:
        """For the executor's heartbeat (``clock_offset_ms`` is the ``/metrics`` gauge)."""
        return {"clock_offset_ms": self.offset_ms, "clock_rtt_ms": self.rtt_ms,
                "clock_age_s": self.age_s(), "clock_estimates": self.estimates,
                "clock_failures": self.failures,
                "clock_timestamp_errors": self.timestamp_errors}
