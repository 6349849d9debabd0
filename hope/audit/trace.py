"""``hope trace``: one correlation id's path signal → decision → order → fill → close."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from hope.audit.log import Manifest
from hope.paths import StatePaths

# The trading path first, in causal order; other families (dlq, system) can hold related events.
ORDER = ["signals", "decisions", "shadow_decisions", "orders", "fills", "closes", "dlq", "system"]
_RANK = {"SIGNAL": 0, "DECISION": 1, "SHADOW_DECISION": 2, "ORDER": 3, "FILL": 4, "CLOSE": 5}


@dataclass
class Hop:
    event_type: str
    event_id: str
    causation_id: str | None
    source: str
    timestamp: str                 # wall clock at publish
    market_ts: float | None        # payload market_ts where the event carries one
    where: str                     # file:line in the audit log
    summary: dict[str, Any]


def _summary(event_type: str, p: dict[str, Any]) -> dict[str, Any]:
    keys = {"SIGNAL": ("symbol", "strategy", "price"),
            "DECISION": ("symbol", "action", "confidence", "position_size"),
            "ORDER": ("order_id", "status", "quantity", "reason"),
            "FILL": ("order_id", "filled_qty", "avg_price"),
            "CLOSE": ("order_id", "exit_price", "pnl", "reason", "holding_s")}.get(event_type, ())
    return {k: p[k] for k in keys if k in p}


def trace(state: StatePaths, correlation_id: str) -> list[Hop]:
    """All audited events with ``correlation_id``, ordered by trading step, then time."""
    manifest = Manifest.load(state.events)
    fams = sorted(manifest.families, key=lambda f: (ORDER.index(f) if f in ORDER else 99, f))
    needle = correlation_id.encode()
    hops: list[Hop] = []
    for fam in fams:
        if fam == "prices":
            continue  # market data: never part of a trade's correlation chain, and the biggest
        for seg in manifest.families[fam]:
            try:
                data = (state.events / seg).read_bytes()
            except FileNotFoundError:
                continue
            for n, raw in enumerate(data.splitlines(), 1):
                if needle not in raw:
                    continue  # cheap prefilter before parsing
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if rec.get("correlation_id") != correlation_id:
                    continue
                p = rec.get("payload") or {}
                mts = p.get("market_ts")
                hops.append(Hop(rec.get("event_type", "?"), rec.get("event_id", "?"),
                                rec.get("causation_id"), rec.get("source", "?"),
                                rec.get("timestamp", "?"),
                                float(mts) if isinstance(mts, int | float) else None,
                                f"events/{seg}:{n}", _summary(rec.get("event_type", ""), p)))
    # Causal order (a hop after its cause), then the chain's natural order: clocks of different
    # processes can disagree by more than one hop takes.
    by_id = {h.event_id: h for h in hops}

    def depth(h: Hop, seen: int = 0) -> int:
        parent = by_id.get(h.causation_id or "")
        return 0 if parent is None or seen > len(hops) else depth(parent, seen + 1) + 1

    hops.sort(key=lambda h: (depth(h), _RANK.get(h.event_type, 9), h.timestamp))
    return hops


def to_json(correlation_id: str, hops: list[Hop]) -> str:
    return json.dumps({"correlation_id": correlation_id, "hops": [asdict(h) for h in hops]},
                      indent=2)


def render(correlation_id: str, hops: list[Hop]) -> str:
    if not hops:
        return f"no audited events with correlation id {correlation_id}"
    lines = [f"trace {correlation_id}: {len(hops)} event(s)"]
    for h in hops:
        mts = f"{h.market_ts:.3f}" if h.market_ts is not None else "-"
        detail = " ".join(f"{k}={v}" for k, v in h.summary.items())
        lines.append(f"  {h.event_type:<9} wall {h.timestamp}  market {mts:<16} {h.source:<16} "
                     f"{detail}  [{h.where}]")
    return "\n".join(lines)
