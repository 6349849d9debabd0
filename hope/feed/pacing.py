"""Staying inside the venue's limits: control-message pace, connection attempts, backoff.

All three take the time as an argument (monotonic seconds) and answer how long to wait, so unit
tests drive them without sleeping and the feed does the waiting.
"""

from __future__ import annotations

import random
from collections import deque


class Pacer:
    """At most ``rate`` sends per second, evenly spaced (no bursts: the venue counts per second)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_at = float("-inf")

    def reserve(self, now: float) -> float:
        """Book one send; returns how long to wait before sending it."""
        at = max(now, self.next_at)
        self.next_at = at + self.interval
        return at - now


class ConnectLimiter:
    """At most ``limit`` connection attempts in any ``window_s`` (the venue: 300 per 5 min)."""

    def __init__(self, limit: int, window_s: float = 300.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self.attempts: deque[float] = deque()

    def reserve(self, now: float) -> float:
        """Book one attempt; returns how long to wait before making it."""
        q = self.attempts
        while q and q[0] <= now - self.window_s:
            q.popleft()
        at = now
        if len(q) >= self.limit:
            at = q[len(q) - self.limit] + self.window_s
        q.append(at)
        return at - now


class Backoff:
    """Exponential backoff with full jitter and no attempt limit; :meth:`reset` after a success."""

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.failures = 0
        self.rng = rng or random.Random()

    def next_delay(self) -> float:
        cap = min(self.max_s, self.initial_s * (2 ** min(self.failures, 30)))
        self.failures += 1
        return self.rng.uniform(0.0, cap)

    def reset(self) -> None:
        self.failures = 0
