"""``scripts/bench --compare``: figures are found by path in any row, ratios listed first."""

from __future__ import annotations

import json

from hope.bench import __main__ as bench_main
from hope.bench.compare import compare, figures


def summary(x: float) -> dict:
    return {"median": x, "min": x, "max": x, "runs": [x]}


BEFORE = {"machine": {"date": "d1", "nproc": 2},
          "hop": {"hope": {"p50": summary(300.0), "runs": [{"p50": 1.0}]},
                  "ratio_to_raw": {"p50": summary(1.5)}},
          "throughput": {"hope": {"sustained_rate": 1000.0, "steps": [{"rate": 5.0}]}},
          "audit": {"us_per_record": {"merkle": 1.2}}}
AFTER = {"machine": {"date": "d2"},
         "hop": {"hope": {"p50": summary(240.0)}, "ratio_to_raw": {"p50": summary(1.2)}},
         "throughput": {"hope": {"sustained_rate": 1500.0}},
         "live": {"ratio_to_raw_rate": 0.4}}


def test_figures_are_summaries_headlines_and_groups_not_runs():
    """Medians, headline numbers and per-step groups by path; runs, steps and machine skipped."""
    assert figures(BEFORE) == {"hop.hope.p50": 300.0, "hop.ratio_to_raw.p50": 1.5,
                               "throughput.hope.sustained_rate": 1000.0,
                               "audit.us_per_record.merkle": 1.2}


def test_compare_puts_ratios_first_and_shows_one_sided_figures():
    """Each figure before, after and after/before; a figure only one run has gets a dash."""
    rows = compare(BEFORE, AFTER)
    assert [r[0] for r in rows[:2]] == ["hop.ratio_to_raw.p50", "live.ratio_to_raw_rate"]
    by = {r[0]: r[1:] for r in rows}
    assert by["hop.ratio_to_raw.p50"] == ["1.5", "1.2", "0.80x"]
    assert by["throughput.hope.sustained_rate"] == ["1,000", "1,500", "1.50x"]
    assert by["live.ratio_to_raw_rate"] == ["-", "0.4", "-"]
    assert by["audit.us_per_record.merkle"] == ["1.2", "-", "-"]


def test_cli_renders_a_run_against_an_earlier_one(tmp_path, capsys):
    """--render NEW --compare OLD prints the table and the comparison without running."""
    def audit_row(writer: float) -> dict:
        return {"audit": {"writer_events_per_s": summary(writer),
                          "plain_jsonl_events_per_s": summary(100.0),
                          "ratio_to_plain": summary(writer / 100), "target_events_per_s": 1}}
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(audit_row(50.0)))
    new.write_text(json.dumps(audit_row(70.0)))
    assert bench_main.main(["--render", str(new), "--compare", str(old)]) == 0
    out = capsys.readouterr().out
    assert "4 audit writer events/s" in out
    assert "audit.ratio_to_plain" in out and "1.40x" in out
