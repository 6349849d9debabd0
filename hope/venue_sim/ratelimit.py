"""Order-rate limits per account (``rateLimits`` ``ORDERS``: per 10 s and per day): the
venue's *unfilled* order count (faqs/order_count_decrement.md).

Every order placed counts one; an order's first fill gives one back in every interval (the
venue may give a maker more; the stand-in gives one, so a client kept under these counts is
under the venue's); cancels and expiries give nothing back. The refund comes after the order's
own response (whose headers show the count with it). Windows are fixed intervals as the
venue's headers report them
(``X-MBX-ORDER-COUNT-10S``, ``X-MBX-ORDER-COUNT-1D``); past a limit the order is refused with
HTTP 429, ``-1015`` and ``Retry-After`` (seconds to the window's end). Clock injected.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Window:
    seconds: int
    limit: int
    label: str            # the header's interval: "10S", "1D"
    start: float = -1.0
    count: int = 0


@dataclass
class OrderVerdict:
    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: int = 0
    message: str = ""


class OrderCounter:
    """Order counts for one account over each interval."""

    def __init__(self, per_10s: int = 100, per_day: int = 200_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.windows = [_Window(10, per_10s, "10S"), _Window(86400, per_day, "1D")]

    def _roll(self, now: float) -> None:
        for w in self.windows:
            start = now - now % w.seconds
            if start != w.start:
                w.start, w.count = start, 0

    def headers(self) -> dict[str, str]:
        self._roll(self.clock())
        return {f"X-MBX-ORDER-COUNT-{w.label}": str(w.count) for w in self.windows}

    def rows(self) -> list[dict[str, object]]:
        """``GET /api/v3/rateLimit/order``: each interval's limit and count."""
        self._roll(self.clock())
        return [{"rateLimitType": "ORDERS", "interval": "SECOND" if w.label == "10S" else "DAY",
                 "intervalNum": 10 if w.label == "10S" else 1, "limit": w.limit,
                 "count": w.count} for w in self.windows]

    def refund(self) -> None:
        """An order's first fill: one order less in every interval (never below zero)."""
        self._roll(self.clock())
        for w in self.windows:
            w.count = max(0, w.count - 1)

    def charge(self) -> OrderVerdict:
        """Count one new order; refused (nothing counted) when a window is full."""
        now = self.clock()
        self._roll(now)
        for w in self.windows:
            if w.count >= w.limit:
                per = "10 SECOND" if w.label == "10S" else "1 DAY"
                return OrderVerdict(False, self.headers(),
                                    max(1, math.ceil(w.start + w.seconds - now)),
                                    f"Too many new orders; current limit is {w.limit} orders "
                                    f"per {per}.")
        for w in self.windows:
            w.count += 1
        return OrderVerdict(True, self.headers())
