"""Fuzzing envelope validation: payload rules per event type against an independent oracle,
non-finite numbers anywhere, timestamps, and v1 (legacy) maps through the upcaster."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from hope import codec
from hope.codec import DecodeError
from hope.envelope import (
    _ENUMS,
    PAYLOAD_SCHEMAS,
    EnvelopeError,
    parse_timestamp,
    timestamp_seconds,
    validate_payload,
)

scalars = (st.none() | st.booleans() | st.integers(-10, 10) | st.floats()
           | st.text(max_size=6) | st.sampled_from(["NEW", "BUY", "SKIP", "REJECTED"]))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3)
                      | st.dictionaries(st.text(max_size=4), c, max_size=3), max_leaves=6)


def oracle(event_type: str, payload: dict[str, Any]) -> bool:
    """Independent statement of the rules: is this payload acceptable?"""
    def finite(v: Any) -> bool:
        if isinstance(v, float):
            return math.isfinite(v)
        if isinstance(v, dict):
            return all(isinstance(k, str) and finite(x) for k, x in v.items())
        if isinstance(v, list):
            return all(finite(x) for x in v)
        return True
    if not finite(payload):
        return False
    for name, (types, rule) in PAYLOAD_SCHEMAS.get(event_type, {}).items():
        if name not in payload:
            return False
        v = payload[name]
        if isinstance(v, bool) or not isinstance(v, types):
            return False
        if (rule == "pos" and v <= 0) or (rule == "nonneg" and v < 0):
            return False
        allowed = _ENUMS.get((event_type, name))
        if allowed and v not in allowed:
            return False
    return True


@given(st.sampled_from(sorted(PAYLOAD_SCHEMAS)), st.data())
def test_payload_validation_agrees_with_the_oracle(event_type, data):
    """validate_payload accepts exactly what the rules allow and names the field when it refuses."""
    schema = PAYLOAD_SCHEMAS[event_type]
    payload = {name: data.draw(values, label=name) for name in schema
               if data.draw(st.integers(0, 9), label=f"keep {name}") > 0}
    payload.update(data.draw(st.dictionaries(st.text(max_size=5), values, max_size=2)))
    try:
        validate_payload(event_type, payload)
        accepted = True
    except EnvelopeError as exc:
        accepted = False
        assert exc.where.startswith("payload"), exc
    assert accepted == oracle(event_type, payload), payload


@given(st.sampled_from([math.nan, math.inf, -math.inf]),
       st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=4))
def test_non_finite_numbers_are_found_at_any_depth(bad, path):
    """A NaN or inf nested anywhere in a payload is refused, naming its path."""
    payload: dict[str, Any] = {"symbol": "EVXBTC", "price": 1.0, "market_ts": 1.0}
    node = payload
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node.get(key), dict) or key not in node \
            else node
    node[path[-1]] = [0.5, bad]
    try:
        validate_payload("PRICE", payload)
    except EnvelopeError as exc:
        assert "non-finite" in exc.reason and exc.where.startswith("payload.")
    else:
        raise AssertionError("non-finite number accepted")


@given(st.text(max_size=40))
def test_parse_timestamp_refuses_anything_but_the_one_format(text):
    """Arbitrary text either parses as the one allowed format or raises EnvelopeError."""
    try:
        ts = parse_timestamp(text)
    except EnvelopeError as exc:
        assert exc.where == "timestamp"
    else:
        assert text.endswith("Z") and len(text) == 27 and ts.tzinfo is not None


def _seconds_or_error(fn: Any, text: Any) -> Any:
    try:
        return fn(text)
    except EnvelopeError as exc:
        return (exc.reason, exc.where)


canonical = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
    lambda d: d.isoformat(timespec="microseconds") + "Z")


@given(canonical, st.integers(0, 26), st.characters(), st.text(max_size=30))
def test_timestamp_seconds_is_parse_timestamp_exactly(text, at, char, other):
    """Canonical timestamps, the same with one character changed, and arbitrary text give
    timestamp_seconds exactly parse_timestamp's epoch seconds or its error, cached or not."""
    for case in (text, text[:at] + char + text[at + 1:], other, text[:19] + other[:8]):
        expected = _seconds_or_error(lambda t: parse_timestamp(t).timestamp(), case)
        assert _seconds_or_error(timestamp_seconds, case) == expected, case
        assert _seconds_or_error(timestamp_seconds, case) == expected, case  # from the cache


@given(st.dictionaries(st.sampled_from(["event_type", "event_id", "correlation_id", "timestamp",
                                        "source", "payload", "schema_version"]),
                       values, max_size=7))
def test_legacy_shaped_maps_upcast_or_are_refused(data):
    """Maps that look like v1 events (no schema_version or "1.0") go through the upcaster and come
    out valid or refused with DecodeError, never another exception."""
    data.pop("schema_version", None) if len(data) % 2 else data.update(schema_version="1.0")
    try:
        codec.decode(msgpack.packb(data))
    except DecodeError as exc:
        assert exc.reason
