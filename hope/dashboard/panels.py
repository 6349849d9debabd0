"""The operational panels: each service's health and host, events/s per topic, the live feed's
lag and gaps, trading state, breakers, dead letters and alerts.

Fed by HEARTBEAT (every service's, ~1/s), HEALTH, TRADING_STATE, CONTROL, BREAKER, DEAD_LETTER
and ALERT. Rates per topic are the deltas of the publishers' ``events_out`` counters between two
of their heartbeats (all publishers summed), so topics the dashboard does not subscribe to count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from hope import numbers as fmt
from hope.dashboard.config import DashboardConfig

Update = dict[str, Any]


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


class Panels:
    def __init__(self, cfg: DashboardConfig, clock: Callable[[], float]) -> None:
        self.cfg, self.clock = cfg, clock
        self.health: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, deque[tuple[float, dict[str, float]]]] = {}
        self._rates: dict[str, dict[str, float]] = {}
        self.feed: dict[str, Any] | None = None
        self.feed_lag: deque[list[float]] = deque(maxlen=cfg.feed_points)
        self.trading: dict[str, Any] = {"state": "UNKNOWN"}
        self.breakers: dict[str, dict[str, str]] = {}
        self.dlq: dict[str, float] = {}
        self.dead_letters: deque[dict[str, Any]] = deque(maxlen=cfg.recent)
        self.alerts: deque[dict[str, Any]] = deque(maxlen=cfg.recent)

    def apply(self, et: str, rec: Mapping[str, Any], p: Mapping[str, Any]) -> list[Update]:
        handler = getattr(self, f"_on_{et.lower()}", None)
        return handler(rec, p) if handler is not None else []

    def set_trading(self, state: str, by: str = "", at: float | None = None) -> Update:
        self.trading = {"state": state, "by": by, "at": at}
        return {"kind": "trading", "trading": self.trading}

    # --- heartbeats ----------------------------------------------------------------------
    def _on_heartbeat(self, rec: Mapping[str, Any], p: Mapping[str, Any]) -> list[Update]:
        service = str(p.get("service") or rec.get("source") or "?")
        now = self.clock()
        h = self.health.setdefault(service, {"service": service, "status": "UP"})
        h.update({"host": p.get("host"), "pid": p.get("pid"), "uptime_s": _num(p.get("uptime_s")),
                  "last_beat": now, "queue_depth": p.get("queue_depth")})
        h["text"] = {"uptime": fmt.duration(h["uptime_s"])}
        updates: list[Update] = [{"kind": "health", "service": h}]
        updates += self._rates_from(service, now, p.get("events_out"))
        if isinstance(p.get("breakers"), Mapping):
            self.breakers[service] = {str(k): str(v) for k, v in p["breakers"].items()}
            updates.append({"kind": "breakers", "breakers": self.breakers})
        if isinstance(p.get("dlq"), Mapping):
            self.dlq = {str(k): v for k, v in p["dlq"].items() if _num(v) is not None}
            updates.append({"kind": "dlq", "dlq": self.dlq})
        if isinstance(p.get("feed"), Mapping):
            updates.append(self._feed_from(p["feed"], now))
        return updates

    def _rates_from(self, service: str, now: float, counts: Any) -> list[Update]:
        """Rates over the publisher's beats of the last ``rate_window_s`` (a restart, whose
        counters start again from 0, restarts the window)."""
        if not isinstance(counts, Mapping):
            return []
        current = {str(k): float(v) for k, v in counts.items() if _num(v) is not None}
        beats = self._counts.setdefault(service, deque())
        if beats and any(v < beats[-1][1].get(k, 0.0) for k, v in current.items()):
            beats.clear()
        beats.append((now, current))
        while len(beats) > 2 and now - beats[1][0] >= self.cfg.rate_window_s:
            beats.popleft()
        first_t, first = beats[0]
        if now <= first_t:
            return []
        dt = now - first_t
        self._rates[service] = {k: (v - first.get(k, 0.0)) / dt for k, v in current.items()}
        return [{"kind": "rates", "rates": self.rates()}]

    def rates(self) -> dict[str, dict[str, Any]]:
        total: dict[str, float] = {}
        for per in self._rates.values():
            for topic, r in per.items():
                total[topic] = total.get(topic, 0.0) + r
        return {t: {"per_s": r, "text": fmt.rate(r)} for t, r in sorted(total.items())}

    def _feed_from(self, feed: Mapping[str, Any], now: float) -> Update:
        lag = feed.get("lag_s") if isinstance(feed.get("lag_s"), Mapping) else {}
        conns = [c for c in feed.get("connections") or [] if isinstance(c, Mapping)]
        symbols = feed.get("symbols") if isinstance(feed.get("symbols"), Mapping) else {}
        p99 = _num(lag.get("p99"))
        if p99 is not None:
            self.feed_lag.append([now, p99])
        self.feed = {
            "connections_up": sum(1 for c in conns if c.get("state") in ("up", "rotating")),
            "connections": len(conns),
            "lag_p50": _num(lag.get("p50")), "lag_p99": p99,
            "id_gaps": feed.get("id_gaps"), "lost_trades": feed.get("lost_trades"),
            "backfilled_trades": feed.get("backfilled_trades"), "down_s": _num(feed.get("down_s")),
            "stale": sorted(str(s) for s, v in symbols.items() if isinstance(v, Mapping) and (
                v.get("stale") is True  # the feed's own judgement (hope.feed.health)
                or (_num(v.get("last_trade_age_s")) or 0) > self.cfg.feed_stale_s)),
            "text": {"lag_p50": fmt.duration(lag.get("p50")),
                     "lag_p99": fmt.duration(lag.get("p99")),
                     "down": fmt.duration(feed.get("down_s"))}}
        return {"kind": "feed", "feed": self.feed, "lag_point": self.feed_lag[-1]
                if p99 is not None else None}

    # --- operational events --------------------------------------------------------------
    def _on_health(self, rec: Mapping[str, Any], p: Mapping[str, Any]) -> list[Update]:
        service = str(p.get("service") or "?")
        h = self.health.setdefault(service, {"service": service})
        h.update({"status": str(p.get("status", "?")), "detail": p.get("detail"),
                  "restarts": p.get("restarts")})
        return [{"kind": "health", "service": h}]

    def _on_trading_state(self, rec: Mapping[str, Any], p: Mapping[str, Any]) -> list[Update]:
        return [self.set_trading(str(p.get("state", "?")), str(p.get("by") or p.get("service")
                                                              or ""), rec.get("timestamp"))]

    def _on_control(self, rec: Mapping[str, Any], p: Mapping[str, Any]) -> list[Update]:
        command = str(p.get("command", "?"))
        if command not in ("halt", "reduce", "resume", "flatten"):
            return []
        self.trading["last_command"] = {"command": command, "source": rec.get("source"),
                                        "at": rec.get("timestamp")}
        return [{"kind": "trading", "trading": self.trading}]

    def _on_breaker(self, rec: Mapping[str, Any], p: Mapping[str, Any]) -> list[Update]:
        service = str(p.get("service") or rec.get("source") or "?")
        self.breakers.setdefault(service, {})[str(p.get("name", "?"))] = str(p.get("state", "?"))
        return [{"kind": "breakers", "breakers": self.breakers}]

    def _on_dead_letter(self, rec: Mapping[str, Any], p: Mapping[str, Any]) -> list[Update]:
        letter = {"at": rec.get("timestamp"), "service": p.get("service"),
                  "handler": p.get("handler"), "error": str(p.get("error", ""))[:300],
                  "topic": p.get("topic"), "attempt": p.get("attempt"),
                  "cid": rec.get("correlation_id")}
        self.dead_letters.append(letter)
        return [{"kind": "dead_letter", "letter": letter}]

    def _on_alert(self, rec: Mapping[str, Any], p: Mapping[str, Any]) -> list[Update]:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(p.items()) if k != "kind")
        alert = {"at": rec.get("timestamp"), "source": rec.get("source"),
                 "kind": str(p.get("kind", "?")), "detail": detail[:300]}
        self.alerts.append(alert)
        return [{"kind": "alert", "alert": alert}]

    def snapshot(self) -> dict[str, Any]:
        return {"health": sorted(self.health.values(), key=lambda h: h["service"]),
                "rates": self.rates(), "feed": self.feed, "feed_lag": list(self.feed_lag),
                "trading": self.trading, "breakers": self.breakers, "dlq": self.dlq,
                "dead_letters": list(self.dead_letters), "alerts": list(self.alerts),
                "down_after_s": self.cfg.down_after_s}
