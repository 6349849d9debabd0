"""``hope report --html``: one self-contained page from the audit log (hope.dashboard.report)."""

from __future__ import annotations

import re

from hope.dashboard.model import record_of
from hope.dashboard.report import render_html, report_data
from hope.dashboard.testing import trade, ts


def records_of(envs):
    by_family = {"SIGNAL": "signals", "DECISION": "decisions", "ORDER": "orders",
                 "FILL": "fills", "CLOSE": "closes"}
    return lambda fam: [record_of(e) for e in envs if by_family[e.event_type] == fam]


def test_report_holds_charts_data_traces_and_plotly_inline():
    """The page loads nothing from anywhere (no src/href to another file), embeds Plotly and
    the data, and carries each trade's trace."""
    envs = trade()
    data = report_data(records_of(envs))
    assert data["stats"]["BTC"]["closes"] == 1
    cid = envs[0].correlation_id
    assert [h["event_type"] for h in data["traces"][cid]] == [
        "SIGNAL", "DECISION", "ORDER", "FILL", "CLOSE"]
    page = render_html(data)
    assert 'data-mode="report"' in page and 'id="hope-data"' in page
    assert "Plotly" in page and len(page) > 1_000_000
    assert not re.search(r'<script[^>]+src=|<link[^>]+href="(?!data:)', page)


def test_report_range_selects_on_wall_clock():
    """--since/--until keep only events whose envelope timestamp is in [since, until)."""
    data = report_data(records_of(trade()), since=ts(1), until=ts(7))
    assert data["stats"] == {} and "3 audited events" in data["range"]


def test_cli_writes_the_page_from_the_audit_log(tmp_path, capsys):
    """hope report --html FILE reads <state>/events and writes the page; a bad --since is
    refused naming the option (exit 2)."""
    from hope.cli import main
    from tests.helpers import write_audit
    envs = trade()
    for env, family in zip(envs, ("signals", "decisions", "orders", "fills", "closes"),
                           strict=True):
        write_audit(tmp_path / "events", family, [env])
    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out), "--state-dir", str(tmp_path)]) == 0
    assert "5 audited events" in capsys.readouterr().out
    assert 'id="hope-data"' in out.read_text()
    assert main(["report", "--html", str(out), "--since", "yesterday",
                 "--state-dir", str(tmp_path)]) == 2
    assert "--since/--until" in capsys.readouterr().err
