"""``hope_feed_*`` metrics from the ``feed`` table of a live scanner's heartbeat.

The feed reports itself (``hope.feed.health.FeedHealth.snapshot``); this only re-exposes it:
per connection state and reconnects, id gaps, backfilled and lost trades, per-symbol last-trade
age and lag (wall at arrival minus the venue's trade time), and the lag quantiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

_STATE = {"up": 1.0, "rotating": 1.0, "connecting": 0.0, "down": 0.0}
_COUNTERS = {"live_trades": "trades handed on as they arrived",
             "backfilled_trades": "trades fetched by REST after an id gap",
             "id_gaps": "id gaps that needed a REST backfill",
             "lost_trades": "trades given up on (backfill too long or impossible)",
             "duplicates": "duplicate frames dropped by id",
             "reconnects": "reconnects over all connections",
             "torn_tails": "torn tape tails cut at start",
             "rest_limited": "HTTP 429 answers", "rest_bans": "HTTP 418 answers"}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def feed_metrics(entries: Mapping[str, Any]) -> Iterable[Metric]:
    """Metric families for every service whose heartbeat carries a ``feed`` table."""
    conn_up = GaugeMetricFamily("hope_feed_connection_up", "1 while the connection is up",
                                labels=["service", "connection"])
    conn_re = CounterMetricFamily("hope_feed_connection_reconnects", "reconnects per connection",
                                  labels=["service", "connection"])
    age = GaugeMetricFamily("hope_feed_symbol_last_trade_age_seconds",
                            "wall seconds since the symbol's last trade arrived",
                            labels=["service", "symbol"])
    lag = GaugeMetricFamily("hope_feed_symbol_lag_seconds",
                            "wall time at arrival minus trade time, last trade",
                            labels=["service", "symbol"])
    quant = GaugeMetricFamily("hope_feed_lag_seconds", "wall minus trade time of live trades",
                              labels=["service", "quantile"])
    down = GaugeMetricFamily("hope_feed_down_seconds", "seconds with no connection up",
                             labels=["service"])
    tape = GaugeMetricFamily("hope_feed_tape_bytes", "bytes on the tape", labels=["service"])
    counters = {k: CounterMetricFamily(f"hope_feed_{k}", doc, labels=["service"])
                for k, doc in _COUNTERS.items()}
    for name, e in sorted(entries.items()):
        feed = getattr(e, "progress", {}).get("feed")
        if not isinstance(feed, Mapping):
            continue
        for c in feed.get("connections") or []:
            if isinstance(c, Mapping):
                idx = str(c.get("index"))
                conn_up.add_metric([name, idx], _STATE.get(str(c.get("state")), 0.0))
                if _num(c.get("reconnects")) is not None:
                    conn_re.add_metric([name, idx], _num(c["reconnects"]))
        for sym, s in sorted((feed.get("symbols") or {}).items()):
            if isinstance(s, Mapping):
                if _num(s.get("last_trade_age_s")) is not None:
                    age.add_metric([name, str(sym)], _num(s["last_trade_age_s"]))
                if _num(s.get("lag_s")) is not None:
                    lag.add_metric([name, str(sym)], _num(s["lag_s"]))
        for q, v in (feed.get("lag_s") or {}).items():
            if _num(v) is not None:
                quant.add_metric([name, {"p50": "0.5", "p99": "0.99"}.get(q, q)], _num(v))
        for key, fam in ((k, counters[k]) for k in counters):
            if _num(feed.get(key)) is not None:
                fam.add_metric([name], _num(feed[key]))
        if _num(feed.get("down_s")) is not None:
            down.add_metric([name], _num(feed["down_s"]))
        if _num(feed.get("tape_bytes")) is not None:
            tape.add_metric([name], _num(feed["tape_bytes"]))
    yield from (conn_up, conn_re, age, lag, quant, down, tape, *counters.values())
