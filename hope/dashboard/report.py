"""``hope report --html FILE``: the dashboard's charts for a time range, from the audit log
alone, in one file readable offline (Plotly, the page's script and style and the data inlined).

The page is the live dashboard's own (``static/index.html`` and ``dashboard.js`` in report
mode), drawn from the same :class:`DashboardModel` snapshot, plus each trade's trace.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hope import numbers as fmt
from hope.audit.reader import AuditReader
from hope.audit.trace import Hop, trace
from hope.dashboard.config import DashboardConfig
from hope.dashboard.history import RecordsOf, fold, merged
from hope.dashboard.http import STATIC, plotly_js
from hope.dashboard.model import DashboardModel, wall_seconds
from hope.dashboard.tracepage import value_text


def report_data(records_of: RecordsOf, since: str | None = None, until: str | None = None,
                cfg: DashboardConfig | None = None,
                trace_of: Callable[[str], list[Hop]] | None = None) -> dict[str, Any]:
    """The snapshot of a model fed with every audited event in [since, until), plus each
    trade's trace (``trace_of``: what ``hope trace`` lists)."""
    cfg = cfg or DashboardConfig()
    records = merged(records_of, since, until, cfg.max_prices_per_symbol)
    first = records[0]["timestamp"] if records else None
    last = records[-1]["timestamp"] if records else None
    model = DashboardModel(cfg, clock=lambda: 0.0)
    fold(model, records)
    data = model.snapshot()
    cids = {t["cid"] for t in data["trades"] if t.get("cid")} | {
        p["cid"] for p in data["positions"] if p.get("cid")}
    data["traces"] = {}
    for cid in sorted(cids) if trace_of else ():
        data["traces"][cid] = [
            {**asdict(h), "text": " ".join(f"{k}={value_text(k, v)}" for k, v in h.summary.items())
             + f"  [{h.where}]"} for h in trace_of(cid)]
    data["range"] = (f"report of {len(records)} audited events, {first} → {last}"
                     if records else "report: no audited events in this range")
    data["controls"] = {"resume_allowed": False}
    if data["trading"].get("state") == "UNKNOWN":
        data["trading"] = {"state": "not recorded in this range"}
    data["rates"] = rates_over(records)
    return data


def rates_over(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Audited events per second of each type over the range (heartbeats are not audited one
    by one, so the report counts what the log holds)."""
    if len(records) < 2:
        return {}
    span = (wall_seconds(records[-1]["timestamp"]) or 0) - (wall_seconds(
        records[0]["timestamp"]) or 0)
    if span <= 0:
        return {}
    counts = Counter(str(r.get("event_type")) for r in records)
    return {t: {"per_s": n / span, "text": fmt.rate(n / span)} for t, n in sorted(counts.items())}


def _inline_script(js: str) -> str:
    return "<script>" + js.replace("</script", "<\\/script") + "</script>"


def render_html(data: dict[str, Any]) -> str:
    page = (STATIC / "index.html").read_text()
    css = (STATIC / "dashboard.css").read_text()
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    page = page.replace('<body data-mode="live">', '<body data-mode="report">')
    page = page.replace('<link rel="stylesheet" href="/static/dashboard.css">',
                        f"<style>{css}</style>")
    page = page.replace('<script src="/static/plotly.min.js" defer></script>\n', "")
    page = page.replace('<script src="/static/dashboard.js" defer></script>\n', "")
    page = page.replace("<title>HOPE dashboard</title>", "<title>HOPE report</title>")
    scripts = (f'<script type="application/json" id="hope-data">{blob}</script>'
               + _inline_script(plotly_js().decode()) + "\n"
               + _inline_script((STATIC / "dashboard.js").read_text()))
    return page.replace("</body>", scripts + "\n</body>")


def write_report(path: Path, reader: AuditReader, since: str | None = None,
                 until: str | None = None) -> dict[str, Any]:
    data = report_data(reader.records, since, until,
                       trace_of=lambda cid: trace(reader, cid))
    Path(path).write_text(render_html(data), encoding="utf-8")
    return data
