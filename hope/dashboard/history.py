"""The audit log's history folded into a :class:`DashboardModel`: the dashboard's catch-up at
start (what happened before it ran) and the whole of ``hope report --html``.

Records of every family the dashboard shows are merged in wall-clock order (an ORDER after its
DECISION, a CLOSE after its FILL) and may be limited to a range of their wall-clock
``timestamp``. Repeats are dropped by ``event_id``, so folding history and then the live
stream (which overlap for a moment at start) counts each event once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from hope.dashboard.model import DashboardModel, Record

FAMILIES = ("prices", "signals", "decisions", "orders", "fills", "closes", "dlq", "system")
# the records of one family, each event once: ``AuditReader.records`` (hope.audit.reader)
RecordsOf = Callable[[str], Iterable[Record]]


def parse_time(text: str) -> str:
    """``--since``/``--until`` (ISO 8601, ``Z`` or an offset, or epoch seconds) as the
    envelope timestamp form, which sorts as text: ``2026-12-01T10:00:00.000000Z``."""
    text = text.strip()
    try:
        when = datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{text!r}: not an ISO 8601 time or epoch seconds") from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def merged(records_of: RecordsOf, since: str | None = None, until: str | None = None,
           prices_per_symbol: int | None = None) -> list[Record]:
    """Every record of :data:`FAMILIES` within [since, until), in wall-clock order; of the
    PRICE stream (the largest family by far) only the newest ``prices_per_symbol`` of each
    symbol, as many as a chart keeps, so a long log is not held in memory whole."""
    out: list[Record] = []
    for family in FAMILIES:
        kept: dict[str, deque[Record]] = {}
        for rec in records_of(family):
            ts = rec.get("timestamp")
            if not isinstance(ts, str) or (since and ts < since) or (until and ts >= until):
                continue
            if family == "prices" and prices_per_symbol:
                symbol = str((rec.get("payload") or {}).get("symbol"))
                kept.setdefault(symbol, deque(maxlen=prices_per_symbol)).append(rec)
            else:
                out.append(rec)
        for recs in kept.values():
            out.extend(recs)
    out.sort(key=lambda r: r["timestamp"])
    return out


def fold(model: DashboardModel, records: Iterable[Record]) -> int:
    """Apply records to ``model``; how many changed it (the updates are not pushed anywhere:
    a page that connects gets the snapshot)."""
    changed = 0
    for rec in records:
        if model.apply(rec):
            changed += 1
    return changed
