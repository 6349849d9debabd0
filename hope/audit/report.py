"""``hope report``: what the trading pipeline did, read from the audit log.

Reads the trading families (signals, decisions, orders, fills, closes) through an
:class:`~hope.audit.reader.AuditReader`. A corrupt line is skipped with a ``file:line: reason``
warning and counted; duplicates of one ``event_id`` (a republish after a crash) count once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from hope.audit.canonical import TRADING_FAMILIES
from hope.audit.reader import AuditReader


def summarize(reader: AuditReader, top: int = 5) -> dict[str, Any]:
    """The report as a JSON-ready dict."""
    load = {f: list(reader.records(f)) for f in TRADING_FAMILIES}
    signals = Counter(r["payload"].get("strategy", "?") for r in load["signals"])
    actions = Counter(r["payload"].get("action", "?") for r in load["decisions"])
    skip_rules: Counter[str] = Counter()
    for r in load["decisions"]:
        if r["payload"].get("action") == "SKIP":
            for reason in r["payload"].get("reasons") or []:
                if isinstance(reason, dict):
                    skip_rules[str(reason.get("rule", "?"))] += 1
    # one status per order: its last (an ORDER UNKNOWN on a live venue is followed by NEW or
    # REJECTED for the same order id)
    last = {r["payload"].get("order_id"): r["payload"].get("status", "?") for r in load["orders"]}
    orders = Counter(last.values())
    fills_by_id = {r["payload"].get("order_id"): r["payload"] for r in load["fills"]}
    closed_ids = set()
    pnl: dict[str, dict[str, float]] = defaultdict(lambda: {"pnl": 0.0, "fees": 0.0,
                                                             "closes": 0, "wins": 0})
    close_reasons: Counter[str] = Counter()
    for r in load["closes"]:
        p = r["payload"]
        closed_ids.add(p.get("order_id"))
        close_reasons[str(p.get("reason", "?"))] += 1
        q = pnl[str(p.get("quote", "?"))]
        value = p.get("pnl", 0.0)
        q["pnl"] += float(value) if isinstance(value, int | float) else 0.0
        fees = p.get("fees", 0.0)
        q["fees"] += float(fees) if isinstance(fees, int | float) else 0.0
        q["closes"] += 1
        q["wins"] += 1 if isinstance(value, int | float) and value > 0 else 0
    for q in pnl.values():
        q["win_rate"] = q["wins"] / q["closes"] if q["closes"] else 0.0
    total_closes = sum(q["closes"] for q in pnl.values())
    open_positions = [
        {"order_id": oid, "symbol": f.get("symbol"), "quantity": f.get("filled_qty"),
         "entry_price": f.get("avg_price")}
        for oid, f in fills_by_id.items() if oid not in closed_ids]
    return {
        "events_dir": reader.source,
        "signals": {"total": sum(signals.values()), "by_strategy": dict(signals)},
        "decisions": {"total": sum(actions.values()), "BUY": actions.get("BUY", 0),
                      "SKIP": actions.get("SKIP", 0),
                      "top_skip_reasons": skip_rules.most_common(top)},
        "orders": {"total": sum(orders.values()), "by_status": dict(orders)},
        "fills": len(load["fills"]),
        "closes": {"total": total_closes, "by_reason": dict(close_reasons)},
        "pnl": {k: dict(v) for k, v in sorted(pnl.items())},
        "win_rate": (sum(q["wins"] for q in pnl.values()) / total_closes) if total_closes else None,
        "open_positions": open_positions,
        "warnings": list(reader.warnings),
    }


def format_text(s: dict[str, Any]) -> str:
    """The report for a terminal."""
    lines = [f"HOPE report — {s['events_dir']}", ""]
    by = ", ".join(f"{k} {v}" for k, v in sorted(s["signals"]["by_strategy"].items())) or "none"
    lines.append(f"Signals     {s['signals']['total']:>7}   ({by})")
    d = s["decisions"]
    lines.append(f"Decisions   {d['total']:>7}   BUY {d['BUY']}, SKIP {d['SKIP']}")
    for rule, n in d["top_skip_reasons"]:
        lines.append(f"              skip: {rule:<22} {n:>6}")
    o = s["orders"]
    st = ", ".join(f"{k} {v}" for k, v in sorted(o["by_status"].items())) or "none"
    lines.append(f"Orders      {o['total']:>7}   ({st})")
    lines.append(f"Fills       {s['fills']:>7}")
    c = s["closes"]
    rs = ", ".join(f"{k} {v}" for k, v in sorted(c["by_reason"].items())) or "none"
    lines.append(f"Closes      {c['total']:>7}   ({rs})")
    lines.append("")
    if s["pnl"]:
        lines.append(f"{'quote':<8}{'realized P&L':>16}{'fees':>14}{'closes':>8}{'win rate':>10}")
        for quote, q in s["pnl"].items():
            lines.append(f"{quote:<8}{q['pnl']:>16.8f}{q['fees']:>14.8f}{q['closes']:>8}"
                         f"{q['win_rate']:>9.0%}")
    else:
        lines.append("No closed positions.")
    lines.append("")
    lines.append(f"Open positions: {len(s['open_positions'])}")
    for p in s["open_positions"]:
        lines.append(f"  {p['order_id']}  {p['symbol']}  qty {p['quantity']}  "
                     f"entry {p['entry_price']}")
    if s["warnings"]:
        lines.append("")
        lines.append(f"Warnings ({len(s['warnings'])} bad lines skipped):")
        lines.extend(f"  {w}" for w in s["warnings"][:20])
        if len(s["warnings"]) > 20:
            lines.append(f"  ... {len(s['warnings']) - 20} more")
    return "\n".join(lines)
