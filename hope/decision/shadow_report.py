"""``hope report --shadow``: the shadow decision engine's SHADOW_DECISIONs vs the live DECISIONs.

Reads the DECISION and SHADOW_DECISION families from the audit log and pairs them by
``causation_id`` (the SIGNAL both decided). Counts agreement, BUY/SKIP flips (with the shadow's
failing rules), and signals only one side decided (the shadow was down, or started later).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hope.audit.canonical import family_for
from hope.audit.reader import AuditReader


def _reasons(p: dict[str, Any]) -> list[str]:
    if p.get("action") != "SKIP":
        return []
    return [f"{r.get('rule')}: {r.get('detail')}" if isinstance(r, dict) else str(r)
            for r in p.get("reasons") or []]


def compare(reader: AuditReader, max_flips: int = 50) -> dict[str, Any]:
    """The comparison as a JSON-ready dict."""
    live = {r["causation_id"]: r for r in reader.records(family_for("DECISION"))
            if r.get("causation_id")}
    shadow = {r["causation_id"]: r for r in reader.records(family_for("SHADOW_DECISION"))
              if r.get("causation_id")}
    pairs: Counter[str] = Counter()
    flips: list[dict[str, Any]] = []
    configs = {"live": sorted({r["payload"].get("config_hash", "?") for r in live.values()}),
               "shadow": sorted({r["payload"].get("config_hash", "?") for r in shadow.values()})}
    for sid in sorted(set(live) & set(shadow), key=lambda s: live[s].get("timestamp", "")):
        a, b = live[sid]["payload"], shadow[sid]["payload"]
        pairs[f"{a.get('action')}/{b.get('action')}"] += 1
        if a.get("action") != b.get("action"):
            flips.append({"signal_id": sid, "correlation_id": live[sid].get("correlation_id"),
                          "symbol": a.get("symbol"), "live": a.get("action"),
                          "shadow": b.get("action"), "shadow_reasons": _reasons(b),
                          "live_reasons": _reasons(a)})
    both = sum(pairs.values())
    agree = pairs.get("BUY/BUY", 0) + pairs.get("SKIP/SKIP", 0)
    return {"events_dir": reader.source, "configs": configs, "paired": both,
            "agree": agree, "agreement": agree / both if both else None,
            "pairs": dict(pairs), "flips": flips[:max_flips], "flip_count": len(flips),
            "live_only": len(set(live) - set(shadow)),
            "shadow_only": len(set(shadow) - set(live)), "warnings": list(reader.warnings)}


def format_text(c: dict[str, Any]) -> str:
    lines = [f"shadow vs live — {c['events_dir']}",
             f"configs: live {', '.join(c['configs']['live']) or '-'}; "
             f"shadow {', '.join(c['configs']['shadow']) or '-'}"]
    if not c["paired"]:
        lines.append("no signal was decided by both engines (is decision-engine-shadow running?)")
    else:
        lines.append(f"paired {c['paired']}: agree {c['agree']} ({c['agreement']:.0%}), "
                     f"flips {c['flip_count']}  "
                     + "  ".join(f"{k} {v}" for k, v in sorted(c["pairs"].items())))
    lines.append(f"decided by live only {c['live_only']}, by shadow only {c['shadow_only']}")
    for f in c["flips"]:
        lines.append(f"  {f['symbol']:<10} live {f['live']} → shadow {f['shadow']}  "
                     f"corr {str(f['correlation_id'])[:16]}")
        lines.extend(f"      {r}" for r in (f["shadow_reasons"] or
                                              [f"(live) {x}" for x in f["live_reasons"]])[:6])
    if c["warnings"]:
        lines.append(f"warnings ({len(c['warnings'])}):")
        lines.extend(f"  {w}" for w in c["warnings"][:10])
    return "\n".join(lines)
