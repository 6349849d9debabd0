"""Heartbeats are not audited one by one: per service, a count and the last one per window."""

from __future__ import annotations

from typing import Any

from hope.envelope import Envelope


class HeartbeatSummary:
    """Counts heartbeats per source; :meth:`drain` gives the HEARTBEAT_SUMMARY payloads."""

    def __init__(self, now: float) -> None:
        self._by_source: dict[str, dict[str, Any]] = {}
        self._window_start = now

    @property
    def pending(self) -> bool:
        return bool(self._by_source)

    def count(self, env: Envelope) -> None:
        s = self._by_source.setdefault(env.source, {"count": 0, "first": env.timestamp})
        s["count"] += 1
        s["last"] = env.timestamp
        s["last_payload"] = env.payload

    def due(self, now: float, window_s: float) -> bool:
        # the epsilon absorbs float rounding of clock differences near the deadline
        return self.pending and now - self._window_start >= window_s - 1e-6

    def drain(self, now: float) -> list[dict[str, Any]]:
        window = now - self._window_start
        out = [{"service": service, "count": s["count"], "first": s["first"], "last": s["last"],
                "window_s": round(window, 3), "last_payload": s["last_payload"]}
               for service, s in sorted(self._by_source.items())]
        self._by_source.clear()
        self._window_start = now
        return out
