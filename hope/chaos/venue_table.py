"""The printed table of ``scripts/chaos --venue`` (:mod:`hope.chaos.venue_books` counts)."""

from __future__ import annotations

from typing import Any

from hope.chaos.table import hist, layout
from hope.chaos.venue_books import VenueTable


def _first(items: list[str]) -> str:
    return "0" if not items else f"{len(items)}: " + ", ".join(items[:3])


def render(t: VenueTable, steps: list[dict[str, Any]], elapsed_s: float) -> str:
    bal = "; ".join(f"{a} HOPE {h} / venue {v}" for a, (h, v) in sorted(t.balances.items())
                    if h != "0.00000000" or v != "0.00000000")
    rows = [
        ("venue orders / venue trades (the stand-in's books)",
         f"{t.venue_orders} / {t.venue_trades}"),
        ("venue orders per BUY DECISION (0: refused before sending)",
         f"{t.buy_decisions} BUYs; {hist(t.venue_orders_per_buy)}"),
        ("executed venue SELLs per exit (CLOSE) (must all be 1)",
         f"{t.exits} exits; {hist(t.venue_orders_per_exit)} (-x or a protective stop; "
         f"{t.stops} stops placed, {t.stops_sold} of them sold)"),
        ("client ids placed more than once (must be 0)", _first(t.ids_placed_twice)),
        ("venue orders HOPE cannot name (must be 0)", _first(t.stray_orders)),
        ("terminal ORDERs per BUY (must all be 1)", hist(t.terminal_orders_per_buy)),
        ("ORDER UNKNOWN per BUY (at most 1)", hist(t.unknown_per_buy)),
        ("HOPE ORDER statuses", ", ".join(f"{k} {v}" for k, v in sorted(t.order_status.items()))),
        ("venue trades audited (FILL/CLOSE trade ids) (must all be 1)",
         hist(t.trades_audited)),
        ("venue trades missing from the audit log", _first(t.trades_missing)),
        ("audited trade ids the venue does not have", _first(t.trades_phantom)),
        ("positions closed / reported open / lost",
         f"{t.positions_closed} / {t.positions_open} / {len(t.positions_lost)}"),
        ("balances (HOPE's fills vs the venue's account)",
         (bal or "-") + ("" if not t.balance_mismatch else "  MISMATCH")),
        ("BUYs / exits received while HALTED or reconciling",
         f"{_first(t.sent_in_windows)} (in {t.windows} spans; protective stops placed "
         f"then: {t.stops_in_windows})"),
    ]
    faults = [(s["step"], f"{s['seconds']:.1f} s" if s["ok"] else "FAILED", s["detail"])
              for s in steps]
    problems = t.problems + [f"step failed: {s['step']}" for s in steps if not s["ok"]]
    return layout("HOPE chaos table: live venue (counted from the stand-in's books)", rows,
                  (60, "settled in", 10), faults, elapsed_s,
                  "PASS (one venue order per decision and exit, every fill once)"
                  if not problems else "FAIL: " + "; ".join(problems))
