"""The audit reader: manifest order, lookups by correlation id and type, bounded bad lines."""

from __future__ import annotations

import json
from pathlib import Path

from hope.audit.lines import MAX_DEPTH, BadLine, parse_record
from hope.audit.reader import AuditReader, LocalAuditReader, open_reader
from tests.helpers import ev, make_state, writer


def line(eid: str, etype: str = "SIGNAL", corr: str = "c") -> str:
    return json.dumps({"event_type": etype, "event_id": eid, "correlation_id": corr,
                       "payload": {"n": eid}}) + "\n"


def test_segments_follow_the_manifest_not_the_names(tmp_path: Path) -> None:
    """The manifest's order wins over the file names' numbers."""
    events = tmp_path / "events"
    events.mkdir()
    (events / "signals.jsonl").write_text(line("a"))
    (events / "signals.000003.jsonl").write_text(line("b"))
    (events / "signals.000002.jsonl").write_text(line("c"))
    (events / "manifest.json").write_text(json.dumps({"version": 1, "families": {
        "signals": ["signals.jsonl", "signals.000003.jsonl", "signals.000002.jsonl"]}}))
    r = LocalAuditReader(events)
    assert [x["event_id"] for x in r.records("signals")] == ["a", "b", "c"]
    assert r.families() == ["signals"]


def test_records_unique_and_repeats(tmp_path: Path) -> None:
    """``unique`` yields each event id once; without it repeats stay (what chaos counts)."""
    events = tmp_path / "events"
    events.mkdir()
    (events / "signals.jsonl").write_text(line("a") + line("a") + line("b"))
    r = LocalAuditReader(events)
    assert [x["event_id"] for x in r.records("signals")] == ["a", "b"]
    assert [x["event_id"] for x in r.records("signals", unique=False)] == ["a", "a", "b"]


def test_bad_lines_are_warnings_with_file_and_line(tmp_path: Path) -> None:
    """A torn line, a list and a 1,500-level nesting are each named ``events/file:line: reason``."""
    events = tmp_path / "events"
    events.mkdir()
    deep = "[" * 1500 + "]" * 1500
    (events / "orders.jsonl").write_text(line("a", "ORDER") + "{torn\n[1]\n" + deep + "\n")
    r = LocalAuditReader(events)
    assert [x["event_id"] for x in r.records("orders")] == ["a"]
    assert r.warnings[0].startswith("events/orders.jsonl:2: not valid JSON")
    assert r.warnings[1] == "events/orders.jsonl:3: not a JSON object (a list)"
    assert r.warnings[2] == f"events/orders.jsonl:4: nested deeper than {MAX_DEPTH} levels"


def test_depth_bound_below_the_recursion_limit() -> None:
    """A line nested past MAX_DEPTH but parseable by json is still refused."""
    raw = ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)).encode()
    try:
        parse_record(raw)
    except BadLine as exc:
        assert "nested deeper" in str(exc)
    else:
        raise AssertionError("accepted a line nested too deep")


def test_by_correlation_and_last_on_a_written_log() -> None:
    """On a log the writer wrote: records by correlation id (with where) and the last N of a type."""
    st = make_state()
    with writer(st) as w:
        for i in range(1, 6):
            w.append(ev(i, "SIGNAL", corr="x" if i % 2 else "y",
                        payload={"symbol": "EVXBTC", "strategy": "pump", "price": 1.0,
                                 "market_ts": 1.7e9 + i}))
    r: AuditReader = open_reader(st)
    found = r.by_correlation("x")
    assert [loc.record["seq"] for loc in found] == [1, 3, 5]
    assert found[0].where == "events/signals.jsonl:1"
    assert [x["seq"] for x in r.last("SIGNAL", 2)] == [4, 5]
    assert r.last("ORDER", 3) == [] and not r.warnings
