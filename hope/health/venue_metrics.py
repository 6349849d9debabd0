"""``hope_venue_*`` metrics from the ``venue`` table of a live executor's heartbeat.

The parts report themselves (``hope.venue.guards.heartbeat_table``): the clock offset to the
venue (``hope_venue_clock_offset_ms``), the rate budget (weight used against the budget, order
counts per venue interval, HOPE's orders today, 429s and 418 bans), the fill book (fills,
unsettled, an open stream gap) and the user data stream (up, connects).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

_GAUGES = {  # (table, key) -> (metric, help)
    ("clock", "clock_offset_ms"): ("hope_venue_clock_offset_ms",
                                   "venue server time minus local wall time (median estimate)"),
    ("clock", "clock_rtt_ms"): ("hope_venue_clock_rtt_ms", "median /time round trip"),
    ("clock", "clock_age_s"): ("hope_venue_clock_estimate_age_seconds",
                               "seconds since the last clock-offset estimate"),
    ("budget", "weight_used_1m"): ("hope_venue_weight_used", "request weight used this minute"),
    ("budget", "weight_budget_1m"): ("hope_venue_weight_budget",
                                     "request weight HOPE may use per minute"),
    ("budget", "orders_today"): ("hope_venue_orders_today", "orders HOPE sent this UTC day"),
    ("budget", "banned_s"): ("hope_venue_banned_seconds", "seconds left of an IP ban (418)"),
    ("fills", "unsettled"): ("hope_venue_fills_unsettled", "fills recorded, not yet acted on"),
}
_COUNTERS = {
    ("budget", "rate_limited"): ("hope_venue_rate_limited", "HTTP 429 answers"),
    ("budget", "bans"): ("hope_venue_bans", "HTTP 418 answers (IP bans)"),
    ("clock", "clock_timestamp_errors"): ("hope_venue_timestamp_errors", "-1021 answers"),
    ("fills", "fills"): ("hope_venue_fills", "venue trades in the fill book"),
    ("fills", "duplicates"): ("hope_venue_fill_duplicates",
                              "fills reported again by another path"),
    ("fills", "gap_recoveries"): ("hope_venue_gap_recoveries",
                                  "user-stream gaps closed by /myTrades and /openOrders"),
    ("user_stream", "connects"): ("hope_venue_user_stream_connects", "user stream connections"),
    ("user_stream", "events"): ("hope_venue_user_stream_events", "user stream events handled"),
}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def venue_metrics(entries: Mapping[str, Any]) -> Iterable[Metric]:
    """Metric families for every service whose heartbeat carries a ``venue`` table."""
    gauges = {k: GaugeMetricFamily(n, h, labels=["service"]) for k, (n, h) in _GAUGES.items()}
    counters = {k: CounterMetricFamily(n, h, labels=["service"])
                for k, (n, h) in _COUNTERS.items()}
    orders = GaugeMetricFamily("hope_venue_order_count",
                               "orders counted in the venue's current interval",
                               labels=["service", "interval"])
    stream_up = GaugeMetricFamily("hope_venue_user_stream_up", "1 while subscribed",
                                  labels=["service"])
    gap = GaugeMetricFamily("hope_venue_fill_gap_open",
                            "1 while a user-stream gap awaits /myTrades recovery",
                            labels=["service"])
    for name, e in sorted(entries.items()):
        venue = getattr(e, "progress", {}).get("venue")
        if not isinstance(venue, Mapping):
            continue
        for fams in (gauges, counters):
            for (table, key), fam in fams.items():
                part = venue.get(table)
                if isinstance(part, Mapping) and _num(part.get(key)) is not None:
                    fam.add_metric([name], _num(part[key]))
        budget = venue.get("budget")
        if isinstance(budget, Mapping) and isinstance(budget.get("orders"), Mapping):
            for interval, count in sorted(budget["orders"].items()):
                if _num(count) is not None:
                    orders.add_metric([name, str(interval)], _num(count))
        stream = venue.get("user_stream")
        if isinstance(stream, Mapping):
            stream_up.add_metric([name], 1.0 if stream.get("state") == "up" else 0.0)
        fills = venue.get("fills")
        if isinstance(fills, Mapping):
            gap.add_metric([name], 0.0 if fills.get("gap") is None else 1.0)
    yield from (*gauges.values(), *counters.values(), orders, stream_up, gap)
