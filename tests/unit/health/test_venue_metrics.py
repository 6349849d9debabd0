"""hope_venue_* metrics from the venue table the executor's heartbeat carries."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from hope.clock import ManualClock
from hope.health.metrics import Metrics
from hope.health.registry import Registry
from hope.venue.budget import Budget, RateLimits
from hope.venue.clock import ClockOffset
from hope.venue.fills import FillBook
from hope.venue.guards import breaker_reason, heartbeat_table

INFO = {"rateLimits": [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}]}


def _samples(text):
    out = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_the_parts_snapshots_become_venue_metrics(tmp_path):
    """Clock offset, weight, order counts, bans, fills and the open gap reach /metrics."""
    clock = ManualClock(1_700_000_040.0)

    async def server_time() -> int:
        return round(clock.time() * 1000 + 1500)

    offset = ClockOffset(server_time, clock=clock, samples=3)
    await offset.estimate()
    budget = Budget(RateLimits.from_exchange_info(INFO), clock=clock)
    budget.acquire(1, orders=1)
    budget.observe(418, {"Retry-After": "120", "X-MBX-USED-WEIGHT-1M": "50"})
    fills = FillBook(tmp_path / "fills.jsonl")
    assert breaker_reason(None, offset, budget) == (
        "breaker open: clock offset 1500 ms > 1000 ms (this host is behind the venue)")
    reg = Registry()
    reg.observe({"service": "executor", "pid": 1,
                 "venue": heartbeat_table(clock=offset, budget=budget, fills=fills)}, 10.0)
    s = _samples(Metrics(reg, tmp_path).render())
    svc = (("service", "executor"),)
    assert s[("hope_venue_clock_offset_ms", svc)] == 1500
    assert s[("hope_venue_weight_used", svc)] == 50
    assert s[("hope_venue_weight_budget", svc)] == 2400
    assert s[("hope_venue_order_count", (("interval", "10S"), ("service", "executor")))] == 1
    assert s[("hope_venue_bans_total", svc)] == 1
    assert s[("hope_venue_banned_seconds", svc)] == 120
    assert s[("hope_venue_fill_gap_open", svc)] == 1   # not subscribed yet: a gap
    assert ("hope_venue_user_stream_up", svc) not in s


def test_no_venue_table_no_venue_metrics_and_malformed_values_skipped(tmp_path):
    """A paper executor exposes no hope_venue_* samples; junk in the table is skipped."""
    reg = Registry()
    reg.observe({"service": "executor", "pid": 1}, 10.0)
    reg.observe({"service": "other", "pid": 2,
                 "venue": {"clock": {"clock_offset_ms": "x"}, "budget": []}}, 10.0)
    s = _samples(Metrics(reg, tmp_path).render())
    assert not [k for k in s if k[0].startswith("hope_venue_")]
