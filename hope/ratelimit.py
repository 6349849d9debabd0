"""A token bucket on an injectable monotonic clock: the gateway's per-token limit, Telegram's pace."""

from __future__ import annotations

from hope.clock import WallClock


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up. ``take()`` spends one if it can."""

    def __init__(self, rate: float, burst: int, clock: WallClock | None = None) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("token bucket: rate > 0 and burst >= 1 required")
        self.rate = rate
        self.burst = burst
        self.clock = clock or WallClock()
        self.tokens = float(burst)
        self._last = self.clock.monotonic()
        self._blocked_until = 0.0

    def _refill(self) -> float:
        now = self.clock.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self._last) * self.rate)
        self._last = now
        return now

    def take(self) -> bool:
        """Spend one token now; False (nothing spent) when the bucket is empty or blocked."""
        now = self._refill()
        if now < self._blocked_until or self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def wait_s(self) -> float:
        """Seconds until ``take()`` can succeed (0 when it can now)."""
        now = self._refill()
        return max(self._blocked_until - now, (1.0 - self.tokens) / self.rate, 0.0)

    def block(self, seconds: float) -> None:
        """Refuse every take for ``seconds`` (a server said 'retry after')."""
        self._blocked_until = max(self._blocked_until, self.clock.monotonic() + seconds)


class BucketMap:
    """One bucket per key (a token id, a client address); the oldest keys are forgotten."""

    def __init__(self, rate: float, burst: int, clock: WallClock | None = None,
                 max_keys: int = 10_000) -> None:
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock or WallClock(), max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> tuple[bool, float]:
        """(allowed, seconds to wait when not)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.pop(next(iter(self._buckets)))
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self.clock)
        if bucket.take():
            return True, 0.0
        return False, bucket.wait_s()
