"""Row 7's verdict and rate search, and the soak's verdict (pure functions; no processes)."""

from __future__ import annotations

from hope.bench.live import search, verdict
from hope.bench.soak import summarise


def step(rate: float, **over) -> dict:
    r = {"rate": rate, "seconds": 10.0, "send_rate": rate, "prices": 100, "audited_prices": 100,
         "audit_drain_s": 0.1, "signals": 10, "orders_new": 10, "p99": 20_000.0}
    return {**r, **over}


def test_verdict_names_every_reason_a_step_fails():
    """Sender short, PRICEs missing from the audit log, backlog, signals without ORDER, p99."""
    assert verdict(step(1000), hope=True) == (True, "")
    ok, why = verdict(step(1000, send_rate=900, audited_prices=90, audit_drain_s=5.0,
                           orders_new=8, p99=60_000.0), hope=True)
    assert not ok
    for text in ("sender reached only 900/s", "audit holds 90 of 100 PRICEs", "backlog",
                 "2 of 10 signals got no ORDER NEW", "p99 60 ms"):
        assert text in why


def test_search_doubles_then_bisects_to_the_best_passing_rate():
    """Capacity 3,000/s from 500: 500, 1,000, 2,000 pass, 4,000 fails, then bisect."""
    tried = []

    def run(rate):
        tried.append(rate)
        return step(rate, p99=10_000.0 if rate <= 3000 else 90_000.0) | \
            {"ok": rate <= 3000, "why": "" if rate <= 3000 else "p99"}
    r = search(run, 500.0, 100_000, 8, "test", log=lambda _m: None)
    assert tried[:4] == [500, 1000, 2000, 4000]
    assert r["sustained_rate"] == 3000 and r["first_failing_rate"] <= 3500
    assert r["at_rate"]["rate"] == 3000 and r["overload_report"] == "p99"


def test_search_counts_a_step_that_raised_as_a_failure():
    """A step that could not be measured fails loudly, with the error in its report."""
    def run(rate):
        raise RuntimeError("pipeline not ready")
    r = search(run, 500.0, 10_000, 2, "test", log=lambda _m: None)
    assert r["sustained_rate"] == 0.0 and "pipeline not ready" in r["overload_report"]


def test_search_runs_a_step_failed_on_latency_alone_once_more():
    """A step that failed only on its p99 gets a second run, which decides; any other failure
    does not."""
    runs: dict[float, int] = {}

    def run(rate):
        runs[rate] = runs.get(rate, 0) + 1
        if rate == 1000 and runs[rate] == 1:  # one stall: latency only
            return step(rate, p99=60_000.0) | {"ok": False, "why": "signal→order p99 60 ms"}
        if rate == 2000:  # lost PRICEs and slow: no second run
            return step(rate) | {"ok": False, "why": "audit holds 9 of 10 PRICEs; "
                                                     "signal→order p99 60 ms"}
        return step(rate) | {"ok": True, "why": ""}
    r = search(run, 1000.0, 100_000, 2, "test", log=lambda _m: None)
    assert runs == {1000: 2, 2000: 1}
    assert r["sustained_rate"] == 1000 and r["steps"][0]["first_run"].endswith("60 ms")


def sample(t: float, rss: float, backlog: int) -> dict:
    return {"t_s": t, "rss_mb": {"audit": rss, "proxy": 40.0}, "audit_backlog": backlog}


def test_soak_verdict_judges_rss_from_the_quarter_mark_and_backlog_growth():
    """A cache that fills early is stable; RSS still climbing after the first quarter, or a
    backlog that grows, is not."""
    filled = [sample(i, min(100.0, 40.0 + 30 * i), 0) for i in range(8)]
    assert summarise(filled, 800)["stable"]
    leaking = [sample(i, 40.0 + 30 * i, 0) for i in range(8)]
    r = summarise(leaking, 800)
    assert r["rss_grown"] == ["audit"] and not r["stable"]
    backlog = [sample(i, 40.0, 100 * i * i) for i in range(8)]
    r = summarise(backlog, 800)
    assert r["backlog_growing"] and not r["stable"]
