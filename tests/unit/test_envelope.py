"""Envelope construction, event_id formula, topics and payload validation."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hope.envelope import (
    EnvelopeError,
    EventType,
    compute_event_id,
    new_event,
    parse_timestamp,
    utc_timestamp,
    validate_envelope,
    validate_payload,
)
from tests.strategies import json_values

SIGNAL = {"symbol": "EVXBTC", "strategy": "pump", "price": 1.3e-05, "market_ts": 1610226000.5}


def test_event_id_follows_the_spec_formula():
    """event_id is sha256 of 'type:correlation:timestamp:sorted-json payload', first 16 hex."""
    ts = "2026-02-02T15:00:00.123456Z"
    text = f"SIGNAL:abc:{ts}:{json.dumps(SIGNAL, sort_keys=True)}"
    assert compute_event_id("SIGNAL", "abc", ts, SIGNAL) == \
        "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


values = json_values(max_int=2**63 - 1)  # new_event refuses what int64 cannot hold


@given(payload=st.dictionaries(st.text(max_size=10), values, max_size=8))
def test_event_id_text_is_json_dumps_sort_keys_for_any_payload(payload):
    """The prebuilt encoder gives json.dumps(sort_keys=True)'s exact text: unicode, escapes,
    float forms (1e-05, 1e+16), big ints, nesting."""
    ts = "2026-02-02T15:00:00.123456Z"
    text = f"SIGNAL:c:{ts}:{json.dumps(payload, sort_keys=True)}"
    expected = "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    assert compute_event_id("SIGNAL", "c", ts, payload) == expected
    assert new_event("ALERT", payload, source="t",
                     correlation_id="c", timestamp=ts).event_id == compute_event_id(
                         "ALERT", "c", ts, payload)


def test_new_event_links_parent_correlation_and_causation():
    """A child event shares the parent's correlation id and names it as its cause."""
    sig = new_event("SIGNAL", SIGNAL, source="scanner")
    dec = new_event("DECISION", {"symbol": "EVXBTC", "action": "SKIP", "confidence": 0.0,
                                 "reasons": [], "position_size": 0.0, "targets": {},
                                 "config_hash": "cfg:x"}, source="decision-engine", parent=sig)
    assert dec.correlation_id == sig.correlation_id
    assert dec.causation_id == sig.event_id
    assert sig.causation_id is None


def test_topics_follow_conventions():
    """Trading topics carry the symbol; system topics the service."""
    assert new_event("SIGNAL", SIGNAL, source="scanner").topic == "SIGNAL.EVXBTC"
    hb = new_event(EventType.HEARTBEAT, {"service": "executor", "pid": 1}, source="executor")
    assert hb.topic == "HEARTBEAT.executor"
    retry = new_event("RETRY", {"service": "executor", "dlq_id": "x", "event": {}},
                      source="dlq-retry")
    assert retry.topic == "RETRY.executor"


def test_timestamp_format_is_utc_microseconds_with_z():
    """Envelope timestamps look like 2026-02-02T15:00:00.123456Z and parse back."""
    ts = utc_timestamp()
    assert len(ts) == 27 and ts.endswith("Z")
    assert parse_timestamp(ts).tzinfo is not None
    with pytest.raises(EnvelopeError, match="timestamp"):
        parse_timestamp("2026-02-02 15:00:00")


@pytest.mark.parametrize("field,value,match", [
    ("price", float("nan"), "non-finite"),
    ("price", float("inf"), "non-finite"),
    ("price", -1.0, "must be > 0"),
    ("price", "1.0", "expected int/float"),
    ("symbol", None, "expected str"),
    ("market_ts", True, "expected int/float"),
])
def test_bad_payloads_are_refused_naming_the_field(field, value, match):
    """Each payload rule names the field it refuses."""
    with pytest.raises(EnvelopeError, match=match) as info:
        new_event("SIGNAL", {**SIGNAL, field: value}, source="scanner")
    assert info.value.where == f"payload.{field}"


def test_subclasses_of_the_wanted_types_keep_the_same_rules():
    """A str or int subclass (an enum member) passes or fails a field's rule as its value would."""
    class Action(StrEnum):
        BUY = "BUY"
        HODL = "HODL"

    class Qty(int):
        pass

    decision = {"symbol": "EVXBTC", "action": Action.BUY, "confidence": 0.5, "reasons": [],
                "position_size": Qty(10), "targets": {}, "config_hash": "h"}
    validate_payload("DECISION", decision)
    for field, value, match in (("action", Action.HODL, "must be one of"),
                                ("position_size", Qty(-1), "must be >= 0")):
        with pytest.raises(EnvelopeError, match=match) as info:
            validate_payload("DECISION", {**decision, field: value})
        assert info.value.where == f"payload.{field}"


def test_missing_field_and_bad_enum_are_refused():
    """A missing required field and an action outside BUY/SKIP are refused."""
    with pytest.raises(EnvelopeError, match="missing"):
        new_event("SIGNAL", {"symbol": "XX"}, source="scanner")
    with pytest.raises(EnvelopeError, match="one of"):
        new_event("DECISION", {"symbol": "EVXBTC", "action": "HODL", "confidence": 0.1,
                               "reasons": [], "position_size": 0.0, "targets": {},
                               "config_hash": "c"}, source="decision-engine")


def test_tampered_payload_fails_event_id_check():
    """Changing the payload after the id was computed is detected."""
    env = new_event("SIGNAL", SIGNAL, source="scanner")
    env.payload["price"] = 2.0
    with pytest.raises(EnvelopeError, match="does not match"):
        validate_envelope(env)


def test_negative_quantities_are_refused():
    """An ORDER with a negative quantity is refused."""
    with pytest.raises(EnvelopeError, match="quantity"):
        new_event("ORDER", {"symbol": "EVXBTC", "order_id": "o1", "status": "NEW",
                            "quantity": -5}, source="executor")
