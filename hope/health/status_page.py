"""The operator's status page: services, rates, recent decisions, P&L and dead letters.

Plain HTML from ``status_page.html`` (a ``string.Template``), every value escaped, refreshed by a
meta tag so it works with scripts off.
"""

from __future__ import annotations

import html
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

from hope import numbers
from hope.feed.health import format_feed
from hope.health.registry import Registry

_TEMPLATE = Template((Path(__file__).with_name("status_page.html")).read_text())


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _num(v: Any, fmt: str = "{:.4f}") -> str:
    return fmt.format(v) if isinstance(v, int | float) and not isinstance(v, bool) else "-"


def _hms(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S") if ts else "-"


class StatusBoard:
    """Keeps what the page shows beyond the registry: recent decisions and closes, P&L totals."""

    def __init__(self, recent: int = 20) -> None:
        self.decisions: deque[dict[str, Any]] = deque(maxlen=recent)
        self.closes: deque[dict[str, Any]] = deque(maxlen=recent)
        self.pnl = 0.0
        self.fees = 0.0
        self.wins = 0
        self.losses = 0
        self.count = 0
        self.seen: set[str] = set()   # event ids: a redelivered CLOSE is not counted twice

    def on_decision(self, payload: Mapping[str, Any], at: float) -> None:
        self.decisions.appendleft({**payload, "_at": at})

    def on_close(self, payload: Mapping[str, Any], at: float, event_id: str = "") -> None:
        if event_id:
            if event_id in self.seen:
                return
            if len(self.seen) > 100_000:  # bounded: redeliveries come soon after, not days later
                self.seen.clear()
            self.seen.add(event_id)
        pnl = payload.get("pnl")
        if isinstance(pnl, int | float) and not isinstance(pnl, bool):
            self.pnl += pnl
            self.count += 1
            if pnl > 0:
                self.wins += 1
            else:
                self.losses += 1
        fees = payload.get("fees")
        if isinstance(fees, int | float) and not isinstance(fees, bool):
            self.fees += fees
        self.closes.appendleft({**payload, "_at": at})

    def render(self, registry: Registry, not_up: Mapping[str, Any], refresh: int,
               now: float | None = None) -> str:
        now = time.time() if now is None else now
        rows, dlq, feed = [], {}, []
        for name, e in sorted(registry.entries.items()):
            if isinstance(e.progress.get("feed"), Mapping):
                feed.extend(format_feed(name, dict(e.progress["feed"])))
            age = f"{now - e.last_beat:.1f}s ago" if e.last_beat else "never"
            rows.append(
                f"<tr><td>{_e(name)}</td><td class=\"{_e(e.status)}\">{_e(e.status)}</td>"
                f"<td>{_e(e.pid)}</td><td>{_e(e.version)}</td><td>{_e(age)}</td>"
                f"<td class=\"num\">{e.rate:.1f}</td>"
                f"<td class=\"num\">{_e(e.progress.get('queue_depth', '-'))}</td>"
                f"<td class=\"num\">{e.restarts}</td><td>{_e(e.detail)}</td></tr>")
            if isinstance(e.progress.get("dlq"), Mapping):
                dlq = e.progress["dlq"]
        decisions = [
            f"<tr><td>{_hms(d['_at'])}</td><td>{_e(d.get('symbol'))}</td>"
            f"<td>{_e(d.get('action'))}</td><td class=\"num\">{_num(d.get('confidence'), '{:.2f}')}"
            f"</td><td class=\"num\">{_e(numbers.size(d.get('position_size')))} "
            f"{_e(d.get('quote', ''))}</td>"
            f"<td>{_e(_reasons(d.get('reasons')))}</td></tr>" for d in self.decisions]
        closes = [
            f"<tr><td>{_hms(c['_at'])}</td><td>{_e(c.get('symbol'))}</td>"
            f"<td>{_e(c.get('reason'))}</td><td class=\"num\">{_e(numbers.price(c.get('entry_price')))}"
            f"</td><td class=\"num\">{_e(numbers.price(c.get('exit_price')))}</td>"
            f"<td class=\"num\">{_e(numbers.money(c.get('pnl'), c.get('quote', '')))}</td></tr>"
            for c in self.closes]
        overall = "ALL UP" if not not_up else "DEGRADED: " + ", ".join(sorted(not_up))
        return _TEMPLATE.substitute(
            refresh=int(refresh), overall=_e(overall), overall_class="ok" if not not_up else "bad",
            generated=_e(datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%SZ")),
            service_rows="\n".join(rows) or "<tr><td colspan=9>no services yet</td></tr>",
            feed_section=(f"<h2>Live feed</h2>\n<pre id=\"feed\">{_e(chr(10).join(feed).strip())}"
                          "</pre>") if feed else "",
            decision_rows="\n".join(decisions) or "<tr><td colspan=6>none yet</td></tr>",
            close_rows="\n".join(closes) or "<tr><td colspan=6>none yet</td></tr>",
            closes=self.count, wins=self.wins, losses=self.losses, pnl=f"{self.pnl:.6f}",
            fees=f"{self.fees:.6f}",
            **{f"dlq_{k}": _e(dlq.get(k, "-")) for k in ("pending", "retrying", "parked", "done")})


def _reasons(reasons: Any) -> str:
    if not isinstance(reasons, list):
        return ""
    out = []
    for r in reasons[:4]:
        out.append(str(r.get("rule", r)) if isinstance(r, Mapping) else str(r))
    return ", ".join(out)
