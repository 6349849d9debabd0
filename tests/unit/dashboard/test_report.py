"""``hope report --html``: one self-contained page from the audit log (hope.dashboard.report)."""

from __future__ import annotations

import re

from hope.audit.reader import open_reader
from hope.audit.trace import trace
from hope.dashboard.report import render_html, report_data
from hope.dashboard.testing import trade, ts
from hope.paths import StatePaths
from tests.helpers import write_audit

FAMILIES = ("signals", "decisions", "orders", "fills", "closes")


def audit_log(tmp_path, envs):
    """A reader over an audit log holding ``envs`` (one trade: one event per family)."""
    for env, family in zip(envs, FAMILIES, strict=True):
        write_audit(tmp_path / "events", family, [env])
    return open_reader(StatePaths.at(tmp_path))


def test_report_holds_charts_data_traces_and_plotly_inline(tmp_path):
    """The page loads nothing from anywhere (no src/href to another file), embeds Plotly and
    the data, and carries each trade's trace as hope trace lists it (with where each hop is)."""
    envs = trade()
    reader = audit_log(tmp_path, envs)
    data = report_data(reader.records, trace_of=lambda cid: trace(reader, cid))
    assert data["stats"]["BTC"]["closes"] == 1
    cid = envs[0].correlation_id
    hops = data["traces"][cid]
    assert [h["event_type"] for h in hops] == ["SIGNAL", "DECISION", "ORDER", "FILL", "CLOSE"]
    assert hops[0]["where"] == "events/signals.jsonl:1" and "price=0.0000152" in hops[0]["text"]
    page = render_html(data)
    assert 'data-mode="report"' in page and 'id="hope-data"' in page
    assert "Plotly" in page and len(page) > 1_000_000
    assert not re.search(r'<script[^>]+src=|<link[^>]+href="(?!data:)', page)


def test_report_range_selects_on_wall_clock(tmp_path):
    """--since/--until keep only events whose envelope timestamp is in [since, until)."""
    data = report_data(audit_log(tmp_path, trade()).records, since=ts(1), until=ts(7))
    assert data["stats"] == {} and "3 audited events" in data["range"]


def test_cli_writes_the_page_from_the_audit_log(tmp_path, capsys):
    """hope report --html FILE reads <state>/events and writes the page; a bad --since is
    refused naming the option (exit 2)."""
    from hope.cli import main
    audit_log(tmp_path, trade())
    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out), "--state-dir", str(tmp_path)]) == 0
    assert "5 audited events" in capsys.readouterr().out
    assert 'id="hope-data"' in out.read_text()
    assert main(["report", "--html", str(out), "--since", "yesterday",
                 "--state-dir", str(tmp_path)]) == 2
    assert "--since/--until" in capsys.readouterr().err
