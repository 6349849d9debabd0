"""hope report --shadow: SHADOW_DECISIONs paired with live DECISIONs by causation id."""

from __future__ import annotations

from pathlib import Path

from hope.audit.reader import LocalAuditReader
from hope.decision.shadow_report import compare, format_text
from hope.envelope import new_event
from tests.helpers import T0, decision, signal, write_audit


def shadow(sig, action: str, reasons=()):
    return new_event("SHADOW_DECISION", {"symbol": sig.payload["symbol"], "action": action,
                                         "confidence": 0.6, "reasons": list(reasons),
                                         "position_size": 0.0, "targets": {},
                                         "config_hash": "cfg:shadow"},
                     source="decision-engine-shadow", parent=sig)


def test_pairs_by_causation_and_lists_flips_with_reasons(tmp_path: Path):
    """Agreements are counted, flips name the shadow's failing rules, unpaired sides are counted."""
    s1, s2, s3, s4 = (signal("EVXBTC", 1.0, T0 + i) for i in range(4))
    write_audit(tmp_path, "decisions", [decision(s1, "BUY"), decision(s2, "SKIP"),
                                        decision(s3, "BUY")])
    write_audit(tmp_path, "shadow_decisions", [
        shadow(s1, "BUY"), shadow(s2, "SKIP"),
        shadow(s3, "SKIP", [{"rule": "max_open_positions", "detail": "1 open (max 1)"}]),
        shadow(s4, "SKIP")])
    c = compare(LocalAuditReader(tmp_path))
    assert c["paired"] == 3 and c["agree"] == 2 and c["flip_count"] == 1
    assert c["pairs"] == {"BUY/BUY": 1, "SKIP/SKIP": 1, "BUY/SKIP": 1}
    (flip,) = c["flips"]
    assert flip["signal_id"] == s3.event_id
    assert flip["shadow_reasons"] == ["max_open_positions: 1 open (max 1)"]
    assert (c["live_only"], c["shadow_only"]) == (0, 1)
    assert c["configs"] == {"live": ["cfg:live"], "shadow": ["cfg:shadow"]}
    text = format_text(c)
    assert "live BUY → shadow SKIP" in text and "max_open_positions" in text


def test_no_shadow_log_says_so(tmp_path: Path):
    """Without shadow decisions the report explains that nothing was paired."""
    tmp_path.joinpath("decisions.jsonl").write_text("{torn\n")
    c = compare(LocalAuditReader(tmp_path))
    assert c["paired"] == 0 and c["warnings"] and "decision-engine-shadow" in format_text(c)
