"""Statistics helpers of the benchmarks (the benchmarks themselves are not tests)."""

from __future__ import annotations

import pytest

from hope.bench.common import (
    Pacer,
    fmt_range,
    latency_runs,
    latency_us,
    percentile,
    ratio,
    summary,
    table,
)
from hope.bench.harness import latencies
from hope.bench.peers import resp_parse


def test_percentile_is_nearest_rank():
    """p50 of 1..100 is 50, p99 is 99, p99.9 is 100 (rank ceil(p/100*n))."""
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 99.9) == 100
    assert percentile([7], 99.9) == 7


def test_percentile_refuses_empty_and_out_of_range():
    """No samples or a percentile outside (0, 100] is an error, not a made-up figure."""
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1, 2], 0)
    with pytest.raises(ValueError):
        percentile([1, 2], 101)


def test_latency_us_converts_nanoseconds_and_counts():
    """Nanosecond samples become microsecond percentiles, unsorted input included."""
    samples = [5000, 1000, 3000, 2000, 4000]  # 1..5 µs
    out = latency_us(samples)
    assert out == {"p50": 3.0, "p99": 5.0, "p99.9": 5.0, "n": 5}


def test_summary_is_median_min_max_of_runs():
    """A figure is the median of its runs with the min-max beside it."""
    s = summary([3.0, 1.0, 10.0])
    assert (s["median"], s["min"], s["max"]) == (3.0, 1.0, 10.0)
    assert s["runs"] == [3.0, 1.0, 10.0]
    with pytest.raises(ValueError):
        summary([])


def test_ratio_pairs_runs_measured_together():
    """The ratio is taken run by run (same round), then summarised."""
    r = ratio([200.0, 300.0, 400.0], [100.0, 100.0, 400.0])
    assert r["median"] == 2.0 and r["min"] == 1.0 and r["max"] == 3.0
    with pytest.raises(ValueError):
        ratio([1.0, 2.0], [1.0])


def test_latency_runs_summarises_each_percentile():
    """Per-percentile summaries over per-run percentile dicts."""
    runs = [{"p50": 1.0, "p99": 10.0, "p99.9": 20.0}, {"p50": 3.0, "p99": 30.0, "p99.9": 40.0},
            {"p50": 2.0, "p99": 20.0, "p99.9": 30.0}]
    out = latency_runs(runs)
    assert out["p50"]["median"] == 2.0 and out["p99"]["max"] == 30.0
    assert out["p99.9"]["min"] == 20.0


def test_latencies_skip_warmup_and_count_loss_and_duplicates():
    """Warm-up messages are ignored; missing indexes count as lost, repeats as duplicates."""
    triples = [(0, 0, 99), (1, 10, 15), (2, 20, 30), (2, 20, 31), (4, 40, 41)]
    samples, counts = latencies(triples, warmup=1, count=4)  # measured: 1, 2, 3, 4
    assert samples == [5, 10, 1]
    assert counts == {"sent": 4, "received": 3, "lost": 1, "duplicates": 1}


def test_pacer_schedules_at_the_rate_and_never_sleeps_when_behind():
    """Message i is due at start + i/rate; a late sender gets no sleep."""
    p = Pacer(1000.0, start=0.0)  # due times long past on the monotonic clock
    assert p.due(0) == 0.0 and p.due(500) == pytest.approx(0.5)
    p.wait(10)  # returns at once: behind schedule
    with pytest.raises(ValueError):
        Pacer(0)


def test_table_and_range_formatting():
    """The table pads columns and renders as Markdown; ranges read 'median (min-max)'."""
    assert fmt_range({"median": 1234.4, "min": 1000, "max": 2000}) == "1,234 (1,000-2,000)"
    text = table(["a", "bb"], [["long cell", "x"]])
    lines = text.splitlines()
    assert lines[0] == "| a         | bb |"
    assert lines[1] == "|-----------|----|"
    assert lines[2] == "| long cell | x  |"


def test_resp_parser_reads_binary_bodies_and_waits_for_more():
    """A Redis push message with CRLF bytes inside its body parses by length; a partial one is
    None until the rest arrives."""
    body = b"ab\r\ncd"
    msg = b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$6\r\n" + body + b"\r\n"
    assert resp_parse(msg) == ([b"message", b"c", body], len(msg))
    assert resp_parse(msg[:-3]) is None
    assert resp_parse(b":1\r\n") == (1, 4)
