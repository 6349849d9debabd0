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
from hope.health.bus_auth import flatten
from hope.health.feed_metrics import feed_metrics
from hope.health.registry import Registry
from hope.health.venue_metrics import venue_metrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BREAKER = {"closed": 0.0, "half_open": 1.0, "open": 2.0, "reconciling": 3.0}
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
    "link_disconnects": (("bus", "links", "disconnects"),),
    "link_handshake_failures": (("bus", "links", "handshake_failures"),),
    "proxies_ready": (("bus", "links", "proxies_ready"),),
    "copies": (("bus", "copies"),),
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


# Service families, in scrape order: (key, kind, name, help, labels). ``simple`` keys double as
# _SOURCES keys (one value per service, looked up by _lookup).
_SIMPLE_FAMILIES = (
    ("dead_letters", CounterMetricFamily, "hope_dead_letters", "handler failures sent to the DLQ"),
    ("decode_errors", CounterMetricFamily, "hope_decode_errors", "frames that failed to decode"),
    ("gaps_recovered", CounterMetricFamily, "hope_gaps_recovered",
     "sequence gaps filled by replay"),
    ("gaps_missing", CounterMetricFamily, "hope_gaps_missing",
     "sequence gaps that could not be replayed"),
    ("queue_depth", GaugeMetricFamily, "hope_queue_depth", "events waiting for a handler"),
    ("link_disconnects", CounterMetricFamily, "hope_bus_link_disconnects",
     "connections of the service's bus sockets to a proxy that dropped"),
    ("link_handshake_failures", CounterMetricFamily, "hope_bus_link_handshake_failures",
     "a client's ZMTP/CURVE handshakes with a proxy that failed"),
    ("proxies_ready", GaugeMetricFamily, "hope_bus_proxies_ready",
     "proxies the service's HELLO probe came back through"),
    ("copies", CounterMetricFamily, "hope_bus_copies",
     "frames heard again through another proxy, dropped before decoding"),
    ("watermark_lag", GaugeMetricFamily, "hope_audit_watermark_lag",
     "events published but not yet acknowledged by the audit writer"),
)


def _service_families() -> tuple[dict[str, Metric], dict[str, Metric], dict[str, Metric]]:
    """Empty families: (liveness and event counts, simple per-service values, keyed tables)."""
    base = {
        "up": GaugeMetricFamily("hope_service_up", "1 when the service is UP",
                                labels=["service"]),
        "beat": GaugeMetricFamily("hope_last_heartbeat_timestamp_seconds",
                                  "wall time of the latest heartbeat", labels=["service"]),
        "events_in": CounterMetricFamily("hope_events_received", "events received by type",
                                         labels=["service", "event_type"]),
        "events_out": CounterMetricFamily("hope_events_published", "events published by type",
                                          labels=["service", "event_type"]),
    }
    simple = {key: kind(name, text, labels=["service"])
              for key, kind, name, text in _SIMPLE_FAMILIES}
    tables = {
        "restarts": CounterMetricFamily("hope_restarts", "restarts requested by the health "
                                        "monitor", labels=["service"]),
        "breakers": GaugeMetricFamily("hope_breaker_state", "0 closed, 1 half-open, 2 open",
                                      labels=["service", "breaker"]),
        "dlq": GaugeMetricFamily("hope_dlq_depth", "dead letters by status", labels=["status"]),
        "latency": HistogramMetricFamily("hope_handler_latency_seconds", "handler run time",
                                         labels=["service", "handler"]),
        "refused": CounterMetricFamily("hope_refusals", "input refused, by service and reason",
                                       labels=["service", "reason"]),
        "disconnects": CounterMetricFamily("hope_bus_disconnects", "peers the proxy's sockets "
                                           "lost (an oversized frame drops its sender)",
                                           labels=["socket"]),
        "handshakes": CounterMetricFamily("hope_bus_handshake_failures", "connections the "
                                          "proxy refused at the CURVE handshake (auth: a key "
                                          "not enrolled; protocol/no_detail: no CURVE)",
                                          labels=["socket", "reason"]),
    }
    return base, simple, tables


def _add_liveness(base: dict[str, Metric], name: str, e: Any) -> None:
    """Up/heartbeat gauges and the per-type event counters of one service."""
    base["up"].add_metric([name], _UP.get(e.status, 0.0))
    base["beat"].add_metric([name], e.last_beat)
    p = e.progress
    for key in ("events_in", "events_out"):
        counts = p.get(key)
        if isinstance(counts, Mapping):
            for et, n in sorted(counts.items()):
                if _num(n) is not None:
                    base[key].add_metric([name, str(et)], _num(n))


def _add_simple(simple: dict[str, Metric], name: str, p: Mapping[str, Any]) -> None:
    """One value per service, from its top-level field or its bus stats."""
    for key, fam in simple.items():
        value = _lookup(p, key)
        if value is not None:
            fam.add_metric([name], value)


def _add_tables(tables: dict[str, Metric], name: str, e: Any) -> None:
    """Restarts, breakers, refusals, proxy disconnects, DLQ depth and handler latency."""
    tables["restarts"].add_metric([name], float(e.restarts))
    p = e.progress
    if isinstance(p.get("breakers"), Mapping):
        for br, st in sorted(p["breakers"].items()):
            tables["breakers"].add_metric([name, str(br)], _BREAKER.get(str(st), -1.0))
    for reason, n in sorted(refusals(p).items()):
        tables["refused"].add_metric([name, reason], n)
    for key in ("disconnects", "dlq"):
        if isinstance(p.get(key), Mapping):
            for label, n in sorted(p[key].items()):
                if _num(n) is not None:
                    tables[key].add_metric([str(label)], _num(n))
    for label, n in sorted(flatten(p.get("handshake_failures")).items()):
        tables["handshakes"].add_metric(label.split(".", 1), float(n))
    hists = p.get("handler_latency") or p.get("handlers")
    if isinstance(hists, Mapping):
        for handler, h in sorted(hists.items()):
            hist = _histogram(h)
            if hist:
                tables["latency"].add_metric([name, str(handler)], hist[0], hist[1])


class HopeCollector(Collector):
    def __init__(self, registry: Registry, state_dir: Path,
                 monitor_counts: Callable[[], Mapping[str, float]] | None = None) -> None:
        self.registry = registry
        self.state_dir = Path(state_dir)
        self.monitor_counts = monitor_counts or (lambda: {})

    def collect(self) -> Iterable[Metric]:
        base, simple, tables = _service_families()
        for name, e in sorted(self.registry.entries.items()):
            _add_liveness(base, name, e)
            _add_simple(simple, name, e.progress)
            _add_tables(tables, name, e)
        yield from base.values()
        yield from simple.values()
        yield from (tables[k] for k in ("restarts", "breakers", "dlq", "latency", "refused",
                                        "disconnects", "handshakes"))
        yield from feed_metrics(self.registry.entries)
        yield from venue_metrics(self.registry.entries)
        yield from self._host_metrics()

    def _host_metrics(self) -> Iterable[Metric]:
        """Free disk under the state dir and the monitor's own counters."""
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
