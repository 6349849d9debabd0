"""``scripts/bench --compare FILE``: this run's figures against an earlier run's JSON, one line
per figure (ratios to the baselines first, then the figures they come from).

A figure is any summary (``{"median": ...}``) or headline number (:data:`HEADLINES`) in a
result, named by its path (``hop.ratio_to_raw.p50``, ``throughput.hope.sustained_rate``), so rows
added later (their own modules, their own keys) are compared without changes here. Per-run lists
(``runs``, ``steps``) and the machine description are not figures.
"""

from __future__ import annotations

import math
from typing import Any

from hope.bench.common import table

SKIP = frozenset({"runs", "steps", "machine", "table", "command", "quick", "samples"})
# numbers that are figures on their own (not inside a {"median": ...} summary)
HEADLINES = frozenset({"sustained_rate", "ratio", "ratio_to_raw_rate", "deliveries_per_event",
                       "deliveries_per_signal", "deliveries_per_price", "rate_ratio"})
# dicts whose every number is a figure (per step, per program, per event type)
GROUPS = frozenset({"us_per_record", "cpu_percent", "deliveries"})


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def figures(res: dict[str, Any], prefix: str = "", group: bool = False) -> dict[str, float]:
    """{path: value} of every figure in a bench result (see the module docstring)."""
    out: dict[str, float] = {}
    for key, value in res.items():
        if key in SKIP:
            continue
        path = f"{prefix}{key}"
        if group and _number(value):
            out[path] = float(value)
        elif isinstance(value, dict) and key in GROUPS:
            out.update(figures(value, path + ".", group=True))
        elif isinstance(value, dict):
            median = value.get("median")
            if _number(median):
                out[path] = float(median)
            else:
                out.update(figures(value, path + "."))
        elif key in HEADLINES and _number(value):
            out[path] = float(value)
    return out


def _is_ratio(path: str) -> bool:
    return "ratio" in path


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0 or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[list[str]]:
    """Rows [figure, before, after, after/before]: ratios first, then the rest, each group in
    the order the results list them (figures only one side has are shown with a dash)."""
    old, new = figures(before), figures(after)
    paths = list(new) + [p for p in old if p not in new]
    paths.sort(key=lambda p: not _is_ratio(p))  # stable: keeps the results' order within groups
    rows = []
    for p in paths:
        a, b = old.get(p), new.get(p)
        change = "-"
        if a is not None and b is not None and a != 0 and math.isfinite(a) and math.isfinite(b):
            change = f"{b / a:.2f}x"
        rows.append([p, _fmt(a), _fmt(b), change])
    return rows


def render(before: dict[str, Any], after: dict[str, Any], before_name: str = "before",
           after_name: str = "this run") -> str:
    dates = (before.get("machine", {}).get("date", "?"), after.get("machine", {}).get("date", "?"))
    head = ["figure", f"{before_name} ({dates[0]})", f"{after_name} ({dates[1]})",
            "after/before"]
    return table(head, compare(before, after))
