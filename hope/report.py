"""``hope report``: what the trading pipeline did, read from the audit log.

Reads ``<state>/events/<family>*.jsonl`` (every segment, in order) for the families signals,
decisions, orders, fills and closes; each line is one audit record with the envelope fields at top
level. A corrupt line is skipped with a ``file:line: reason`` warning and counted; duplicates of
one ``event_id`` (a republish after a crash) count once.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FAMILIES = ("signals", "decisions", "orders", "fills", "closes")


def segments(events_dir: Path, family: str) -> list[Path]:
    """``family.jsonl`` (segment 1) then ``family.<n>.jsonl`` in numeric order."""
    pattern = re.compile(rf"^{re.escape(family)}(?:\.(\d+))?\.jsonl$")
    found = []
    for path in Path(events_dir).glob(f"{family}*.jsonl"):
        m = pattern.match(path.name)
        if m:
            found.append((int(m.group(1) or 1), path))
    return [p for _, p in sorted(found)]


def iter_family(events_dir: Path, family: str, warnings: list[str]) -> Iterator[dict[str, Any]]:
    """Audit records of one family; bad lines go to ``warnings``, each event_id is yielded once."""
    seen: set[str] = set()
    for path in segments(events_dir, family):
        try:
            yield from _records(path, seen, warnings)
        except OSError as exc:
            warnings.append(f"{path}: unreadable ({exc})")


def _records(path: Path, seen: set[str], warnings: list[str]) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                warnings.append(f"{path}:{lineno}: corrupt line ({exc})")
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("payload"), dict):
                warnings.append(f"{path}:{lineno}: not an audit record (no payload map)")
                continue
            eid = rec.get("event_id")
            if isinstance(eid, str):
                if eid in seen:
                    continue
                seen.add(eid)
            yield rec


def summarize(events_dir: Path, top: int = 5) -> dict[str, Any]:
    """The report as a JSON-ready dict."""
    warnings: list[str] = []
    load = {f: list(iter_family(events_dir, f, warnings)) for f in FAMILIES}
    signals = Counter(r["payload"].get("strategy", "?") for r in load["signals"])
    actions = Counter(r["payload"].get("action", "?") for r in load["decisions"])
    skip_rules: Counter[str] = Counter()
    for r in load["decisions"]:
        if r["payload"].get("action") == "SKIP":
            for reason in r["payload"].get("reasons") or []:
                if isinstance(reason, dict):
                    skip_rules[str(reason.get("rule", "?"))] += 1
    orders = Counter(r["payload"].get("status", "?") for r in load["orders"])
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
        "events_dir": str(events_dir),
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
        "warnings": warnings,
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
