"""``hope trace``: one correlation id's path signal → decision → order → fill → close.

The id may be given whole or by a prefix (``hope sniff`` shows the first 12 characters): the
exact id wins where it exists; a prefix that more than one correlation id starts with (none of
them the prefix itself) is refused with the candidates. ``hope sniff --correlation`` makes the
same choice (:class:`CorrelationFilter`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from hope.audit.canonical import TRADING_TYPES
from hope.audit.reader import AuditReader

# Rank of each step on the trading path (a shadow decision sits beside the live one).
_RANK = {t: i for i, t in enumerate(TRADING_TYPES)} | {"SHADOW_DECISION": 1.5}


@dataclass
class Hop:
    event_type: str
    event_id: str
    correlation_id: str
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


class AmbiguousPrefix(ValueError):
    """More than one correlation id starts with the prefix given."""

    def __init__(self, prefix: str, ids: list[str]) -> None:
        shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
        super().__init__(f"{len(ids)} correlation ids start with {prefix!r}: {shown}; "
                         "give more of it")


def chosen_correlation(wanted: str, ids: Iterable[str]) -> str | None:
    """The correlation id that ``wanted`` (an id whole, or a prefix) selects among ``ids``
    (those starting with it): the exact id whenever it is there, else the only one; None when
    there is none; AmbiguousPrefix when several start with it and none is it."""
    found = sorted(set(ids))
    if wanted in found:
        return wanted
    if len(found) > 1:
        raise AmbiguousPrefix(wanted, found)
    return found[0] if found else None


class CorrelationFilter:
    """One correlation id, given whole or as a prefix, picked out of events as they come
    (``hope sniff --correlation``): :func:`chosen_correlation` over the ids seen so far, so
    the exact id wins from the moment it shows up, and a second id starting with the prefix
    (none of them exact) raises AmbiguousPrefix as ``hope trace`` does."""

    def __init__(self, wanted: str) -> None:
        self.wanted = wanted
        self.seen: set[str] = set()  # ids seen that start with ``wanted``

    def see(self, correlation_id: str) -> None:
        """Know of ``correlation_id`` before deciding (a batch read at once)."""
        if correlation_id.startswith(self.wanted):
            self.seen.add(correlation_id)

    def admits(self, correlation_id: str) -> bool:
        """Whether an event of ``correlation_id`` is one of the trade asked for."""
        if not correlation_id.startswith(self.wanted):
            return False
        self.see(correlation_id)
        return chosen_correlation(self.wanted, self.seen) == correlation_id


def trace(reader: AuditReader, correlation_id: str) -> list[Hop]:
    """All audited events of ``correlation_id`` (whole, or a prefix only one id has), ordered
    by trading step, then time; raises AmbiguousPrefix."""
    found = reader.by_correlation(correlation_id)
    chosen = chosen_correlation(correlation_id,
                                (str(loc.record.get("correlation_id")) for loc in found))
    found = [loc for loc in found if loc.record.get("correlation_id") == chosen]
    hops: list[Hop] = []
    for loc in found:
        rec = loc.record
        p = rec.get("payload") if isinstance(rec.get("payload"), dict) else {}
        mts = p.get("market_ts")
        hops.append(Hop(rec.get("event_type", "?"), rec.get("event_id", "?"),
                        str(rec.get("correlation_id")), rec.get("causation_id"),
                        rec.get("source", "?"),
                        rec.get("timestamp", "?"),
                        float(mts) if isinstance(mts, int | float) else None,
                        loc.where, _summary(rec.get("event_type", ""), p)))
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
