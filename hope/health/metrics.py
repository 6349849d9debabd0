"""Prometheus metrics, built at scrape time from the registry's latest heartbeats.

The counters live in each service (its runtime counts and puts them in the heartbeat); the
monitor only re-exposes them, labelled by service, so a scrape equals what the services report.
A service restart resets its counters, which Prometheus' rate() handles as a counter reset.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from hope.handler_stats import LATENCY_BUCKETS
from hope.health.feed_metrics import feed_metrics
from hope.health.registry import Registry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BREAKER = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_UP = {"UP": 1.0}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


# metric key -> where a heartbeat carries it: a top-level field first, else the runtime's
# ``bus`` stats (hope.runtime heartbeat: bus = ZmqBus.stats()).
_SOURCES = {
    "dead_letters": (("dead_letters",), ("failed",)),
    "decode_errors": (("decode_errors",), ("bus", "decode_errors")),
    "gaps_recovered": (("gaps_recovered",), ("bus", "replayed_in")),
    "gaps_missing": (("gaps_missing",), ("bus", "gaps_unrecoverable")),
    "queue_depth": (("queue_depth",),),
    "watermark_lag": (("watermark_lag",), ("bus", "outbox_pending")),
}


# Refusals other parts count under their own names: (path in the heartbeat, reason label)
_REFUSAL_FIELDS = ((("market_clock_refused",), "market_clock_jump"),
                   (("market_clock_foreign",), "market_clock_foreign"),
                   (("metrics", "bad_retries"), "bad_retry"))


def refusals(progress: Mapping[str, Any]) -> dict[str, float]:
    """Refused input per reason of one service: its own ``refusals`` (executor limits, gateway,
    HTTP hosts), its bus client's (``bus.refusals``: decode, replay, delivery) and the
    runtime's market-clock and RETRY refusals."""
    out: dict[str, float] = {}
    bus = progress.get("bus")
    for table in (progress.get("refusals"), bus.get("refusals") if isinstance(bus, Mapping)
                  else None):
        if isinstance(table, Mapping):
            for reason, n in table.items():
                if _num(n) is not None:
                    out[str(reason)] = out.get(str(reason), 0.0) + _num(n)
    for path, reason in _REFUSAL_FIELDS:
        value: Any = progress
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        if _num(value):
            out[reason] = out.get(reason, 0.0) + _num(value)
    return out


def _lookup(progress: Mapping[str, Any], key: str) -> float | None:
    for path in _SOURCES[key]:
        value: Any = progress
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        if _num(value) is not None:
            return _num(value)
    return None


class HopeCollector(Collector):
    def __init__(self, registry: Registry, state_dir: Path,
                 monitor_counts: Callable[[], Mapping[str, float]] | None = None) -> None:
        self.registry = registry
        self.state_dir = Path(state_dir)
        self.monitor_counts = monitor_counts or (lambda: {})

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("hope_service_up", "1 when the service is UP", labels=["service"])
        beat = GaugeMetricFamily("hope_last_heartbeat_timestamp_seconds",
                                 "wall time of the latest heartbeat", labels=["service"])
        ev_in = CounterMetricFamily("hope_events_received", "events received by type",
                                    labels=["service", "event_type"])
        ev_out = CounterMetricFamily("hope_events_published", "events published by type",
                                     labels=["service", "event_type"])
        simple = {
            "dead_letters": CounterMetricFamily("hope_dead_letters", "handler failures sent to "
                                                "the DLQ", labels=["service"]),
            "decode_errors": CounterMetricFamily("hope_decode_errors", "frames that failed to "
                                                 "decode", labels=["service"]),
            "gaps_recovered": CounterMetricFamily("hope_gaps_recovered", "sequence gaps filled by "
                                                  "replay", labels=["service"]),
            "gaps_missing": CounterMetricFamily("hope_gaps_missing", "sequence gaps that could not "
                                                "be replayed", labels=["service"]),
            "queue_depth": GaugeMetricFamily("hope_queue_depth", "events waiting for a handler",
                                             labels=["service"]),
            "watermark_lag": GaugeMetricFamily("hope_audit_watermark_lag", "events published but "
                                               "not yet acknowledged by the audit writer",
                                               labels=["service"]),
        }
        restarts = CounterMetricFamily("hope_restarts", "restarts requested by the health monitor",
                                       labels=["service"])
        breakers = GaugeMetricFamily("hope_breaker_state", "0 closed, 1 half-open, 2 open",
                                     labels=["service", "breaker"])
        dlq = GaugeMetricFamily("hope_dlq_depth", "dead letters by status", labels=["status"])
        refused = CounterMetricFamily("hope_refusals", "input refused, by service and reason",
                                      labels=["service", "reason"])
        disconnects = CounterMetricFamily("hope_bus_disconnects", "peers the proxy's sockets "
                                          "lost (an oversized frame drops its sender)",
                                          labels=["socket"])
        latency = HistogramMetricFamily("hope_handler_latency_seconds", "handler run time",
                                        labels=["service", "handler"])
        for name, e in sorted(self.registry.entries.items()):
            up.add_metric([name], _UP.get(e.status, 0.0))
            beat.add_metric([name], e.last_beat)
            restarts.add_metric([name], float(e.restarts))
            p = e.progress
            for fam, key in ((ev_in, "events_in"), (ev_out, "events_out")):
                counts = p.get(key)
                if isinstance(counts, Mapping):
                    for et, n in sorted(counts.items()):
                        if _num(n) is not None:
                            fam.add_metric([name, str(et)], _num(n))
            for key, fam in simple.items():
                value = _lookup(p, key)
                if value is not None:
                    fam.add_metric([name], value)
            if isinstance(p.get("breakers"), Mapping):
                for br, st in sorted(p["breakers"].items()):
                    breakers.add_metric([name, str(br)], _BREAKER.get(str(st), -1.0))
            for reason, n in sorted(refusals(p).items()):
                refused.add_metric([name, reason], n)
            if isinstance(p.get("disconnects"), Mapping):
                for sock, n in sorted(p["disconnects"].items()):
                    if _num(n) is not None:
                        disconnects.add_metric([str(sock)], _num(n))
            if isinstance(p.get("dlq"), Mapping):
                for st, n in sorted(p["dlq"].items()):
                    if _num(n) is not None:
                        dlq.add_metric([str(st)], _num(n))
            hists = p.get("handler_latency") or p.get("handlers")
            if isinstance(hists, Mapping):
                for handler, h in sorted(hists.items()):
                    hist = _histogram(h)
                    if hist:
                        latency.add_metric([name, str(handler)], hist[0], hist[1])
        yield from (up, beat, ev_in, ev_out, *simple.values(), restarts, breakers, dlq, latency,
                    refused, disconnects)
        yield from feed_metrics(self.registry.entries)
        disk = GaugeMetricFamily("hope_state_free_bytes", "free bytes on the state dir's disk")
        try:
            disk.add_metric([], float(shutil.disk_usage(self.state_dir).free))
        except OSError:
            pass  # state dir vanished: report nothing rather than fail the scrape
        yield disk
        for key, value in sorted(self.monitor_counts().items()):
            c = CounterMetricFamily(f"hope_monitor_{key}", f"health monitor: {key}")
            c.add_metric([], float(value))
            yield c


def _histogram(h: Any) -> tuple[list[tuple[str, float]], float] | None:
    """A heartbeat histogram -> prometheus buckets and sum. Two forms: ``{"buckets":
    [[le, cumulative], ...], "sum", "count"}``, or the runtime's ``{"buckets": [cumulative per
    LATENCY_BUCKETS edge], "sum", "count"}``."""
    if not isinstance(h, Mapping) or not isinstance(h.get("buckets"), list):
        return None
    raw = h["buckets"]
    if raw and all(_num(v) is not None for v in raw) and len(raw) == len(LATENCY_BUCKETS):
        raw = [[edge, v] for edge, v in zip(LATENCY_BUCKETS, raw, strict=True)]
    buckets = []
    for pair in raw:
        if isinstance(pair, list | tuple) and len(pair) == 2 and _num(pair[1]) is not None:
            le = "+Inf" if pair[0] in ("+Inf", "inf", None) else str(float(pair[0]))
            buckets.append((le, _num(pair[1])))
    count = _num(h.get("count"))
    if count is None:
        return None
    if not buckets or buckets[-1][0] != "+Inf":
        buckets.append(("+Inf", count))
    return buckets, _num(h.get("sum")) or 0.0


class Metrics:
    """A private prometheus registry holding the HOPE collector (no global state in tests)."""

    def __init__(self, registry: Registry, state_dir: Path,
                 monitor_counts: Callable[[], Mapping[str, float]] | None = None) -> None:
        self.prom = CollectorRegistry(auto_describe=False)
        self.prom.register(HopeCollector(registry, state_dir, monitor_counts))

    def render(self) -> bytes:
        return generate_latest(self.prom)
