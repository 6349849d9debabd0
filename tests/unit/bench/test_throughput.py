"""The zero-loss rate search of scripts/bench row 3 (the pipeline runs replaced by a capacity)."""

from __future__ import annotations

from hope.bench import throughput


def _fake_capacity(monkeypatch, capacity: float, confirm_capacity: float | None = None) -> list:
    calls = []

    def step(system, rate, seconds, sizes):
        calls.append((rate, seconds))
        limit = confirm_capacity if seconds > 10 and confirm_capacity is not None else capacity
        ok = rate <= limit
        return {"rate": rate, "ok": ok, "why": "" if ok else f"backlog at {rate}"}

    monkeypatch.setattr(throughput, "_step", step)
    return calls


def test_search_doubles_then_bisects_to_within_the_resolution(monkeypatch):
    """Doubling finds a failure, bisection narrows to within 20 %, the best pass is confirmed."""
    calls = _fake_capacity(monkeypatch, 320)
    out = throughput.search("hope", 50, 10, 30, 20_000, log=lambda _: None)
    assert [r for r, s in calls if s == 10] == [50, 100, 200, 400, 300, 350]
    assert out["sustained_rate"] == 300 and out["first_failing_rate"] == 350
    assert out["overload_report"] == "backlog at 400"


def test_failed_confirmation_goes_a_quarter_lower(monkeypatch):
    """A rate that passes 10 s but not the 30 s confirmation is not reported as sustained."""
    calls = _fake_capacity(monkeypatch, 320, confirm_capacity=250)
    out = throughput.search("hope", 50, 10, 30, 20_000, log=lambda _: None)
    assert [r for r, s in calls if s == 30] == [300, 225]
    assert out["sustained_rate"] == 225


def test_confirmation_keeps_stepping_down_until_a_rate_holds(monkeypatch):
    """A pipeline that loses a little over 30 s at every rate above 130 is confirmed below it."""
    calls = _fake_capacity(monkeypatch, 320, confirm_capacity=130)
    out = throughput.search("hope", 50, 10, 30, 20_000, log=lambda _: None)
    assert [r for r, s in calls if s == 30] == [300, 225, 169, 127]
    assert out["sustained_rate"] == 127


def test_search_halves_when_the_first_step_fails(monkeypatch):
    """Starting above capacity halves until a pass, then bisects."""
    calls = _fake_capacity(monkeypatch, 30)
    out = throughput.search("hope", 100, 10, 30, 20_000, log=lambda _: None)
    assert [r for r, s in calls if s == 10][:3] == [100, 50, 25]
    assert 25 <= out["sustained_rate"] <= 30
