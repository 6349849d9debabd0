"""The venue's limits: request weight per minute with 429 and the 418 ban, message and
connection-attempt rates. Clocks are injected so unit tests do not wait.

Request weight (REST): weight is counted per calendar minute (the window
``X-MBX-USED-WEIGHT-1M`` reports); a request that would exceed the limit gets 429 with
``Retry-After`` = seconds to the next minute. A client that keeps sending after a 429 is banned
(418, ``Retry-After`` = seconds left of the ban) once it has made ``ban_after`` requests inside
429 windows; a ban lasts ``ban_s`` (the venue: 2 minutes to 3 days, growing for repeat
offenders: each new ban doubles, capped at 3 days).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MAX_BAN_S = 3 * 86400


@dataclass
class Verdict:
    """What the weight limiter says about one request."""

    status: int            # 200, 429 or 418
    used: int              # weight used in the current minute, this request included
    retry_after: int = 0   # seconds, for 429 and 418


class WeightLimiter:
    """Request weight per minute for one IP, with the 429 → 418 escalation."""

    def __init__(self, limit: int = 6000, ban_after: int = 3, ban_s: float = 120.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.ban_after = ban_after
        self.ban_s = ban_s
        self.clock = clock
        self._minute = -1
        self.used = 0
        self._violations = 0
        self.banned_until = 0.0
        self.bans = 0

    def _roll(self, now: float) -> None:
        minute = int(now // 60)
        if minute != self._minute:
            self._minute = minute
            self.used = 0
            self._violations = 0  # a client that waited out its 429 starts clean

    def charge(self, weight: int) -> Verdict:
        """Count one request of ``weight`` and say whether it may be served."""
        now = self.clock()
        self._roll(now)
        if now < self.banned_until:
            return Verdict(418, self.used, math.ceil(self.banned_until - now))
        self.used += weight
        if self.used <= self.limit:
            return Verdict(200, self.used)
        self._violations += 1
        if self._violations > self.ban_after:
            self.bans += 1
            duration = min(self.ban_s * 2 ** (self.bans - 1), MAX_BAN_S)
            self.banned_until = now + duration
            self._violations = 0
            return Verdict(418, self.used, math.ceil(duration))
        return Verdict(429, self.used, max(1, math.ceil(60 - now % 60)))

    def current(self) -> int:
        """Weight used in the current minute (for the header of responses not charged)."""
        self._roll(self.clock())
        return self.used


class MessageRate:
    """At most ``limit`` incoming messages in any ``window`` seconds on one connection."""

    def __init__(self, limit: int = 5, window: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._times: deque[float] = deque()

    def allow(self) -> bool:
        """Count one message; False when it exceeds the limit (the connection is closed)."""
        now = self.clock()
        times = self._times
        while times and now - times[0] >= self.window:
            times.popleft()
        times.append(now)
        return len(times) <= self.limit


class AttemptRate:
    """Connection attempts per IP: at most ``limit`` in ``window`` seconds (300 per 5 min)."""

    def __init__(self, limit: int = 300, window: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._times: dict[str, deque[float]] = {}

    def allow(self, ip: str) -> bool:
        now = self.clock()
        times = self._times.setdefault(ip, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True
