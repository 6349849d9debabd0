"""ALERTs for failed bus handshakes: the proxy counts them per socket and reason (CURVE keys it
does not know, peers without CURVE) in its heartbeat; the health monitor turns a rising count
into one ALERT per ``[health] auth_alert_interval_s`` at most::

    ALERT.health-monitor  {"kind": "bus_handshake_failed", "service": "proxy", "new": 3,
                           "total": 7, "by_reason": {"xsub.auth": 2, "xpub.protocol": 5},
                           "last_denied_key": "curve:…", "detail": "…"}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten(failures: Any) -> dict[str, int]:
    """``{"xsub": {"auth": 2}}`` -> ``{"xsub.auth": 2}``; malformed entries are skipped."""
    out: dict[str, int] = {}
    if not isinstance(failures, Mapping):
        return out
    for sock, reasons in failures.items():
        if isinstance(reasons, Mapping):
            for reason, n in reasons.items():
                if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
                    out[f"{sock}.{reason}"] = n
    return out


class HandshakeAlerts:
    """Feed it the proxy's heartbeats; it answers the ALERT payload when one is due."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.seen: dict[str, int] = {}
        self.epoch: str | None = None
        self.pending = 0
        self.last_alert: float | None = None

    def observe(self, payload: Mapping[str, Any], now: float) -> dict[str, Any] | None:
        counts = flatten(payload.get("handshake_failures"))
        if payload.get("epoch") != self.epoch:  # a restarted proxy counts from zero again
            self.epoch, self.seen = payload.get("epoch"), {}
        new = sum(max(0, n - self.seen.get(k, 0)) for k, n in counts.items())
        self.seen = counts
        self.pending += new
        if not self.pending:
            return None
        if self.last_alert is not None and now - self.last_alert < self.interval_s:
            return None
        self.last_alert, new, self.pending = now, self.pending, 0
        denied = payload.get("zap_last_denied")
        return {"kind": "bus_handshake_failed", "service": "proxy", "new": new,
                "total": sum(counts.values()), "by_reason": counts,
                "last_denied_key": denied if isinstance(denied, str) else None,
                "detail": f"{new} bus connection(s) refused by the proxy's CURVE handshake "
                          "(unknown key or no CURVE); runbook: 'Bus over tcp'"}
