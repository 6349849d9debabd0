"""Row 3: the highest signal rate sustained with zero loss, HOPE pipeline and raw pipeline.

Search: from ``start`` double while a step passes, halve while it fails, then bisect between the
best pass and the lowest failure to within 20 % (each step ``step_s`` seconds, fresh processes),
then confirm the best passing rate for ``confirm_s``; a failed confirmation goes a quarter lower
and confirms again (up to four tries). A step passes when :func:`hope.bench.pipeline.zero_loss`
says so: every signal got its ORDER NEW and every event is in the audit log with no GAP (HOPE), or
nothing was lost (raw), and the sender kept its rate with no backlog left behind. A failing step
is reported with what went wrong (the overload report: nothing is lost silently in the figures).
"""

from __future__ import annotations

from typing import Any

from hope.bench import pipeline

RAW = pipeline.BASELINES  # system -> pipeline.run_raw topology


def _step(system: str, rate: float, seconds: float, sizes: dict[str, int]) -> dict[str, Any]:
    grace = max(4.0, seconds * 0.5)
    if system in RAW:
        r = pipeline.run_raw(rate, seconds, warmup_s=0.2, grace_s=grace, sizes=sizes,
                             topology=RAW[system])
    else:
        root = pipeline.TMPFS if system == "hope_tmpfs" else None
        r = pipeline.run_hope(rate, seconds, warmup_s=0.2, grace_s=grace, root=root)
    ok, why = pipeline.zero_loss(r, system not in RAW, seconds)
    keep = ("rate", "send_rate", "sent", "orders", "missing_orders", "lost", "audit_lost",
            "drain_s", "audit_drain_s", "p50", "p99", "statuses", "deliveries_per_signal",
            "deliveries_per_price")
    return {**{k: r[k] for k in keep if k in r}, "seconds": seconds, "ok": ok, "why": why}


def search(system: str, start: float, step_s: float, confirm_s: float, max_rate: float,
           sizes: dict[str, int] | None = None, max_steps: int = 8, resolution: float = 1.2,
           confirm_tries: int = 4, log: Any = print) -> dict[str, Any]:
    """Double from ``start`` until a step fails (halve until one passes), then bisect between
    the best pass and the lowest failure until they are within ``resolution`` of each other."""
    sizes = sizes or {}
    steps: list[dict[str, Any]] = []
    best, worst_fail = 0.0, None
    rate = start
    for _ in range(max_steps):
        s = _step(system, rate, step_s, sizes)
        steps.append(s)
        log(f"  {system} {rate:,.0f}/s for {step_s:g}s: "
            + ("ok" if s["ok"] else f"FAIL ({s['why']})"))
        if s["ok"]:
            best = max(best, rate)
        else:
            worst_fail = rate if worst_fail is None else min(worst_fail, rate)
        if worst_fail is None:
            if rate * 2 > max_rate:
                break
            rate *= 2
        elif not best:
            if rate / 2 < 1:
                break
            rate /= 2
        elif worst_fail / best <= resolution:
            break
        else:
            rate = round((best + worst_fail) / 2)
    confirmed = None
    overload = next((s for s in steps if not s["ok"]), None)
    for _ in range(confirm_tries):
        if not best:
            break
        c = _step(system, best, confirm_s, sizes)
        log(f"  {system} confirm {best:,.0f}/s for {confirm_s:g}s: "
            + ("ok" if c["ok"] else f"FAIL ({c['why']})"))
        steps.append({**c, "confirm": True})
        if c["ok"]:
            confirmed = best
            break
        overload = overload or c
        best = round(best * 0.75)  # a failed confirmation: a quarter lower, once more
    return {"sustained_rate": confirmed or 0.0, "first_failing_rate": worst_fail, "confirm_s": confirm_s,
            "overload_report": overload["why"] if overload else None, "steps": steps}


def measure(quick: bool = False, tmpfs: bool = False, log: Any = print,
            sizes: dict[str, int] | None = None) -> dict[str, Any]:
    step_s, confirm_s = (3.0, 6.0) if quick else (10.0, 30.0)
    out: dict[str, Any] = {"step_s": step_s, "confirm_s": confirm_s, "target_signals_per_s": 5000}
    out["hope"] = search("hope", 100.0, step_s, confirm_s, 20_000, max_steps=7, log=log)
    if tmpfs:
        out["hope_tmpfs"] = search("hope_tmpfs", 100.0, step_s, confirm_s, 20_000, max_steps=7,
                                   log=log)
    out["raw_fanout"] = search("raw_fanout", 2000.0, step_s, confirm_s, 64_000, sizes=sizes,
                               log=log)
    out["raw_zmq"] = search("raw_zmq", 8000.0, step_s, confirm_s, 64_000, sizes=sizes, log=log)
    return out
