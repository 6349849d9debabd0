"""Per-handler count, errors and a latency histogram: what /metrics shows for each handler."""

from __future__ import annotations

import bisect
import itertools
from typing import Any

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
_FIRST_EDGE = LATENCY_BUCKETS[0]


class HandlerStats:
    """Count, errors and a cumulative latency histogram per handler (for /metrics)."""

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.total = 0.0
        self.first = [0] * len(LATENCY_BUCKETS)  # per-bucket counts; cumulated on report

    def observe(self, seconds: float, ok: bool) -> None:
        self.count += 1
        self.errors += 0 if ok else 1
        self.total += seconds
        if seconds <= _FIRST_EDGE:  # nearly every call: no search
            self.first[0] += 1
            return
        i = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        if i < len(self.first):
            self.first[i] += 1

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "errors": self.errors, "sum": round(self.total, 6),
                "buckets": list(itertools.accumulate(self.first))}
