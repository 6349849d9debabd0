"""Per-handler stats: count, errors, sum and the cumulative latency histogram."""

from __future__ import annotations

from hope.handler_stats import LATENCY_BUCKETS, HandlerStats


def test_observations_land_in_the_first_bucket_they_fit_edges_included():
    """An observation counts in every bucket whose edge it does not exceed; past 5 s in none."""
    stats = HandlerStats()
    for seconds in (0.0, 0.0001, 0.0005, 0.0006, 0.001, 0.3, 5.0, 7.0):
        stats.observe(seconds, ok=seconds < 1)
    out = stats.as_dict()
    assert out["count"] == 8 and out["errors"] == 2
    assert out["buckets"] == [3, 5, 5, 5, 5, 5, 5, 6, 6, 7]
    assert len(out["buckets"]) == len(LATENCY_BUCKETS)
