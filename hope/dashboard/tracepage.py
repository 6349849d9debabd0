"""One trade's full trace as a page: what ``hope trace`` lists, each hop with its numbers
formatted for their quantity."""

from __future__ import annotations

import html
from typing import Any

from hope import numbers as fmt

_PRICES = ("price", "avg_price", "exit_price", "entry_price")
_SIZES = ("quantity", "filled_qty", "position_size")


def value_text(key: str, value: Any) -> str:
    if key in _PRICES:
        return fmt.price(value)
    if key in _SIZES:
        return fmt.size(value)
    if key == "pnl":
        return fmt.money(value)
    if key == "holding_s":
        return fmt.duration(value)
    if key == "confidence":
        return fmt.sig(value, 3)
    return str(value)


def render(correlation_id: str, hops: list[dict[str, Any]]) -> str:
    cid = html.escape(correlation_id)
    rows = []
    for h in hops:
        detail = " ".join(f"{html.escape(str(k))}={html.escape(value_text(k, v))}"
                          for k, v in (h.get("summary") or {}).items())
        mts = h.get("market_ts")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in (
            html.escape(str(h.get("event_type"))), html.escape(str(h.get("timestamp"))),
            html.escape(f"{mts:.3f}" if isinstance(mts, int | float) else "–"),
            html.escape(str(h.get("source"))), detail,
            html.escape(str(h.get("where") or h.get("event_id") or "")))) + "</tr>")
    body = ("<table><thead><tr><th>event</th><th>wall clock</th><th>market clock</th>"
            "<th>source</th><th>detail</th><th>where</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>") if rows else \
        "<p>No audited events with this correlation id.</p>"
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>HOPE trace {cid}</title><link rel='stylesheet' href='/static/dashboard.css'>"
            f"</head><body><h1>trace {cid}</h1><p><a href='/'>← dashboard</a> · "
            f"<code>hope trace {cid}</code> · {len(hops)} event(s)</p>{body}</body></html>")
