"""Tests for hope.health.metrics: Prometheus text built from heartbeats."""

from prometheus_client.parser import text_string_to_metric_families

from hope.health.metrics import Metrics
from hope.health.registry import Registry


def _samples(text):
    out = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_counters_equal_heartbeat_values(tmp_path):
    """Events per type, decode errors, breakers, DLQ depth and histograms mirror the beats."""
    reg = Registry()
    reg.observe({"service": "scanner", "pid": 1, "events_out": {"SIGNAL": 7, "PRICE": 100},
                 "decode_errors": 3, "gaps_recovered": 2, "watermark_lag": 5,
                 "breakers": {"exchange": "open"},
                 "handler_latency": {"on_price": {"buckets": [[0.01, 90], [0.1, 100]],
                                                  "sum": 0.5, "count": 100}}}, 10.0)
    reg.observe({"service": "dlq-retry", "pid": 2,
                 "dlq": {"pending": 1, "retrying": 0, "parked": 4, "done": 9}}, 10.0)
    s = _samples(Metrics(reg, tmp_path).render())
    assert s[("hope_events_published_total",
              (("event_type", "SIGNAL"), ("service", "scanner")))] == 7
    assert s[("hope_decode_errors_total", (("service", "scanner"),))] == 3
    assert s[("hope_gaps_recovered_total", (("service", "scanner"),))] == 2
    assert s[("hope_audit_watermark_lag", (("service", "scanner"),))] == 5
    assert s[("hope_breaker_state", (("breaker", "exchange"), ("service", "scanner")))] == 2
    assert s[("hope_dlq_depth", (("status", "parked"),))] == 4
    assert s[("hope_handler_latency_seconds_bucket",
              (("handler", "on_price"), ("le", "0.01"), ("service", "scanner")))] == 90
    assert s[("hope_handler_latency_seconds_count",
              (("handler", "on_price"), ("service", "scanner")))] == 100
    assert s[("hope_state_free_bytes", ())] > 0


def test_decode_error_counter_rises_with_the_beats(tmp_path):
    """A later heartbeat with more decode errors raises the exposed counter."""
    reg = Registry()
    m = Metrics(reg, tmp_path)
    reg.observe({"service": "audit-writer", "pid": 1, "decode_errors": 0}, 1.0)
    before = _samples(m.render())[("hope_decode_errors_total", (("service", "audit-writer"),))]
    reg.observe({"service": "audit-writer", "pid": 1, "decode_errors": 2}, 2.0)
    after = _samples(m.render())[("hope_decode_errors_total", (("service", "audit-writer"),))]
    assert (before, after) == (0, 2)


def test_malformed_progress_fields_are_skipped(tmp_path):
    """Non-numeric counters and broken histograms are left out, never break the scrape."""
    reg = Registry()
    reg.observe({"service": "x", "pid": 1, "decode_errors": "lots", "events_in": {"A": "b"},
                 "handler_latency": {"h": {"buckets": "no"}}, "breakers": [1]}, 1.0)
    s = _samples(Metrics(reg, tmp_path).render())
    assert ("hope_decode_errors_total", (("service", "x"),)) not in s
    assert s[("hope_service_up", (("service", "x"),))] == 0


def test_runtime_heartbeat_shape_is_understood(tmp_path):
    """The runtime's own fields (bus stats, handlers with per-edge buckets) become metrics."""
    from hope.handler_stats import LATENCY_BUCKETS
    reg = Registry()
    n = len(LATENCY_BUCKETS)
    reg.observe({"service": "executor", "pid": 3, "failed": 2,
                 "bus": {"decode_errors": 4, "replayed_in": 6, "outbox_pending": 8},
                 "handlers": {"on_decision": {"count": 5, "errors": 0, "sum": 0.01,
                                              "buckets": [5] * n}}}, 1.0)
    s = _samples(Metrics(reg, tmp_path).render())
    assert s[("hope_decode_errors_total", (("service", "executor"),))] == 4
    assert s[("hope_gaps_recovered_total", (("service", "executor"),))] == 6
    assert s[("hope_audit_watermark_lag", (("service", "executor"),))] == 8
    assert s[("hope_dead_letters_total", (("service", "executor"),))] == 2
    assert s[("hope_handler_latency_seconds_count",
              (("handler", "on_decision"), ("service", "executor")))] == 5


def test_refusals_per_reason_and_bus_disconnects(tmp_path):
    """hope_refusals_total{service, reason} sums a service's own and its bus client's refusals;
    the proxy's peer disconnects are hope_bus_disconnects_total{socket}."""
    reg = Registry()
    reg.observe({"service": "executor", "pid": 1, "market_clock_refused": 1,
                 "market_clock_foreign": 0, "metrics": {"bad_retries": 3},
                 "refusals": {"limit_max_position_size": 2, "decode_too_deep": 1},
                 "bus": {"refusals": {"decode_too_deep": 3, "replay_rate_limited": 4,
                                      "bad": "x"}}}, 10.0)
    reg.observe({"service": "proxy", "pid": 2, "disconnects": {"xsub": 5, "xpub": 0}}, 10.0)
    s = _samples(Metrics(reg, tmp_path).render())
    key = "hope_refusals_total"
    assert s[(key, (("reason", "limit_max_position_size"), ("service", "executor")))] == 2
    assert s[(key, (("reason", "decode_too_deep"), ("service", "executor")))] == 4
    assert s[(key, (("reason", "replay_rate_limited"), ("service", "executor")))] == 4
    assert (key, (("reason", "bad"), ("service", "executor"))) not in s
    assert s[(key, (("reason", "market_clock_jump"), ("service", "executor")))] == 1
    assert s[(key, (("reason", "bad_retry"), ("service", "executor")))] == 3
    assert (key, (("reason", "market_clock_foreign"), ("service", "executor"))) not in s
    assert s[("hope_bus_disconnects_total", (("socket", "xsub"),))] == 5


def test_feed_table_of_a_live_scanner_becomes_feed_metrics(tmp_path):
    """Connection state, reconnects, gaps, backfilled trades, symbol age and lag are exposed."""
    reg = Registry()
    feed = {"connections": [{"index": 0, "state": "up", "reconnects": 2}],
            "symbols": {"EVXBTC": {"last_trade_age_s": 1.5, "lag_s": 0.02}},
            "lag_s": {"p50": 0.01, "p99": 0.2}, "live_trades": 90, "backfilled_trades": 10,
            "id_gaps": 1, "lost_trades": 0, "down_s": 0.0, "tape_bytes": 1234}
    reg.observe({"service": "scanner", "pid": 1, "feed": feed}, 10.0)
    s = _samples(Metrics(reg, tmp_path).render())
    assert s[("hope_feed_connection_up", (("connection", "0"), ("service", "scanner")))] == 1
    assert s[("hope_feed_connection_reconnects_total",
              (("connection", "0"), ("service", "scanner")))] == 2
    assert s[("hope_feed_symbol_last_trade_age_seconds",
              (("service", "scanner"), ("symbol", "EVXBTC")))] == 1.5
    assert s[("hope_feed_lag_seconds", (("quantile", "0.99"), ("service", "scanner")))] == 0.2
    assert s[("hope_feed_backfilled_trades_total", (("service", "scanner"),))] == 10
    assert s[("hope_feed_id_gaps_total", (("service", "scanner"),))] == 1
    assert s[("hope_feed_tape_bytes", (("service", "scanner"),))] == 1234
