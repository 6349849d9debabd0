"""Deliveries per event: how many processes read each event off the bus (what fan-out costs).

HOPE services count what they read per event type (``bus.received_types`` in their HEARTBEAT);
the bench sink keeps each service's latest count (``hope-sink --deliveries FILE``) and a run
reads it once every service has beaten after the traffic ended. Raw stages write their counts
(``raw-stage --counts``). Either way the figure is the sum over the system's programs (not the
bench's own sender and sink) divided by the events published:

- per PRICE: PRICE deliveries / PRICEs published;
- per signal: deliveries of every event of the signal's path (PRICE, SIGNAL, DECISION, ORDER,
  FILL, CLOSE) / SIGNALs published.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from hope.envelope import parse_timestamp

PATH_TYPES = ("PRICE", "SIGNAL", "DECISION", "ORDER", "FILL", "CLOSE")


def read_heartbeat_counts(path: str | Path) -> dict[str, dict[str, Any]]:
    """The sink's file: {service: {"ts": publish time (epoch s), "received": {type: n}}}."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def heartbeat_entry(payload: dict[str, Any], timestamp: str) -> dict[str, Any]:
    """What the sink keeps of one HEARTBEAT: its publish time, the bus' counts per type and the
    backlog it reports (events queued for handlers, events its outbox holds unacknowledged)."""
    bus = payload.get("bus") if isinstance(payload.get("bus"), dict) else {}
    return {"ts": parse_timestamp(timestamp).timestamp(),
            "received": dict(bus.get("received_types") or {}),
            "queue_depth": payload.get("queue_depth"), "outbox_pending": bus.get("outbox_pending")}


def wait_counts(path: str | Path, services: tuple[str, ...], after: float, timeout: float
                ) -> tuple[dict[str, dict[str, int]], bool]:
    """Each service's counts from a heartbeat published after ``after`` (epoch s): (counts,
    complete). Past ``timeout`` the latest known counts are returned with complete False."""
    deadline = time.monotonic() + timeout
    while True:
        seen = read_heartbeat_counts(path)
        fresh = all(seen.get(s, {}).get("ts", 0.0) > after for s in services)
        if fresh or time.monotonic() > deadline:
            return {s: seen.get(s, {}).get("received", {}) for s in services}, fresh
        time.sleep(0.1)


def per_event(counts: dict[str, dict[str, int]], signals: int, prices: int,
              path_types: tuple[str, ...] = PATH_TYPES) -> dict[str, Any]:
    """Deliveries per signal and per PRICE from per-program counts (see the module docstring;
    a load whose PRICEs do not come one per signal leaves PRICE out of ``path_types``)."""
    totals: dict[str, int] = {}
    for by_type in counts.values():
        for etype, n in by_type.items():
            totals[etype] = totals.get(etype, 0) + int(n)
    path = sum(totals.get(t, 0) for t in path_types)
    return {"deliveries_per_signal": round(path / signals, 2) if signals else None,
            "deliveries_per_price": round(totals.get("PRICE", 0) / prices, 2) if prices else None,
            "deliveries": {t: totals[t] for t in PATH_TYPES if t in totals},
            "programs": {k: dict(v) for k, v in counts.items()}}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-run figures' medians (runs that counted nothing left out)."""
    out: dict[str, Any] = {}
    for key in ("deliveries_per_signal", "deliveries_per_price"):
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    return out


def fmt(r: dict[str, Any] | None) -> str:
    """``deliveries/signal 7.0, /PRICE 4.0`` for a table's notes (n/a when not counted)."""
    if not r or r.get("deliveries_per_signal") is None:
        return "deliveries n/a"
    price = r.get("deliveries_per_price")
    return f"deliveries/signal {r['deliveries_per_signal']:g}" + \
        (f", /PRICE {price:g}" if price is not None else "")
