"""The venue clock offset: median of round-trip-corrected /time samples, refresh, breaker."""

from __future__ import annotations

import pytest

from hope.clock import ManualClock
from hope.venue.clock import ClockEstimateError, ClockOffset

T0 = 1_700_000_000.0


class FakeTime:
    """A /time endpoint whose server clock is ``skew_ms`` off the manual clock; each call takes
    the next round trip from ``rtts_ms`` (half out, half back)."""

    def __init__(self, clock: ManualClock, skew_ms: float, rtts_ms: list[float]) -> None:
        self.clock, self.skew_ms, self.rtts_ms = clock, skew_ms, list(rtts_ms)
        self.calls = 0

    async def __call__(self) -> int:
        rtt = self.rtts_ms[self.calls % len(self.rtts_ms)]
        self.calls += 1
        self.clock.advance(rtt / 2000.0)
        server = round(self.clock.time() * 1000.0 + self.skew_ms)
        self.clock.advance(rtt / 2000.0)
        return server


async def test_median_of_half_rtt_corrected_samples_recovers_the_skew():
    """Symmetric round trips of different lengths all imply the true skew; the median keeps it."""
    clock = ManualClock(T0)
    est = ClockOffset(FakeTime(clock, 250.0, [10, 80, 30, 400, 20]), clock=clock)
    assert await est.estimate() == pytest.approx(250.0, abs=1.0)
    assert est.rtt_ms == pytest.approx(30.0, abs=1.0)
    assert est.breaker_reason() is None
    assert est.now_ms() == pytest.approx(clock.time() * 1000 + 250, abs=1.0)


async def test_an_outlier_sample_does_not_move_the_median():
    """One answer delayed on the way back only (asymmetric) skews its sample, not the median."""
    clock = ManualClock(T0)
    fake = FakeTime(clock, -40.0, [20])
    est = ClockOffset(fake, clock=clock, samples=5)

    async def fetch() -> int:
        value = await fake()
        if fake.calls == 3:
            clock.advance(1.5)  # held on the way back: this sample reads 750 ms low
        return value

    est.fetch = fetch
    assert await est.estimate() == pytest.approx(-40.0, abs=1.0)


async def test_offset_beyond_the_threshold_opens_the_breaker_with_the_numbers():
    """A skew of 1.5 s against a 1000 ms threshold gives the breaker reason naming both."""
    clock = ManualClock(T0)
    est = ClockOffset(FakeTime(clock, 1500.0, [10]), clock=clock, max_offset_ms=1000)
    await est.estimate()
    assert est.breaker_reason() == ("breaker open: clock offset 1500 ms > 1000 ms "
                                    "(this host is behind the venue)")


async def test_a_clock_found_off_is_looked_at_again_soon_and_the_breaker_closes_once_fixed():
    """Beyond the threshold a new estimate is due every recheck_s, not refresh_s: once the
    clock is put right the next estimate closes the breaker."""
    clock = ManualClock(T0)
    fake = FakeTime(clock, 2500.0, [10])
    est = ClockOffset(fake, clock=clock, samples=1, refresh_s=300, recheck_s=10)
    await est.estimate()
    assert "2500 ms" in (est.breaker_reason() or "") and not est.due()
    fake.skew_ms = 0.0
    clock.advance(10)
    assert est.due() and await est.refresh_if_due()
    assert est.breaker_reason() is None
    clock.advance(10)
    assert not est.due()   # in bounds: every refresh_s again


async def test_no_estimate_yet_or_a_stale_one_keeps_the_breaker_open():
    """Fail-closed: before the first estimate, and once the last one is too old, no trading."""
    clock = ManualClock(T0)
    est = ClockOffset(FakeTime(clock, 0.0, [10]), clock=clock, refresh_s=60, max_age_s=180)
    assert "unknown" in (est.breaker_reason() or "")
    await est.estimate()
    assert est.breaker_reason() is None
    clock.advance(181)
    assert "old" in (est.breaker_reason() or "")


async def test_refresh_is_due_periodically_and_at_once_after_1021():
    """A new estimate is due after refresh_s, and immediately after the venue answers -1021."""
    clock = ManualClock(T0)
    fake = FakeTime(clock, 5.0, [10])
    est = ClockOffset(fake, clock=clock, samples=3, refresh_s=60)
    assert await est.refresh_if_due() is True
    assert fake.calls == 3
    assert await est.refresh_if_due() is False
    est.on_venue_error(-2010)          # not a timestamp problem
    assert not est.due()
    est.on_venue_error(-1021)
    assert est.due() and est.timestamp_errors == 1
    assert await est.refresh_if_due() is True
    clock.advance(61)
    assert est.due()


async def test_failed_and_too_slow_samples_are_dropped_and_none_left_raises():
    """Errors and over-long round trips are lost samples; with none usable the old offset stays."""
    clock = ManualClock(T0)
    est = ClockOffset(FakeTime(clock, 100.0, [10]), clock=clock, samples=3)
    await est.estimate()

    async def broken() -> int:
        raise OSError("connection refused")

    est.fetch = broken
    with pytest.raises(ClockEstimateError, match="connection refused"):
        await est.estimate()
    assert est.offset_ms == pytest.approx(100.0, abs=1.0) and est.failures == 1
    est.fetch = FakeTime(clock, 0.0, [5000])
    with pytest.raises(ClockEstimateError, match="round trip"):
        await est.estimate()
    assert est.due()


async def test_snapshot_carries_the_metric_values():
    """The heartbeat table has the offset (the hope_venue_clock_offset_ms gauge) and its age."""
    clock = ManualClock(T0)
    est = ClockOffset(FakeTime(clock, -20.0, [10]), clock=clock)
    assert est.snapshot()["clock_offset_ms"] is None
    await est.estimate()
    snap = est.snapshot()
    assert snap["clock_offset_ms"] == pytest.approx(-20.0, abs=1.0)
    assert snap["clock_age_s"] == 0.0 and snap["clock_estimates"] == 1
