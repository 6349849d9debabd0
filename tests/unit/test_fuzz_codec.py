"""Fuzzing the codec beyond test_codec.py: arbitrary MessagePack objects, mutated real frames and
mutated envelope maps either decode to a valid, stable envelope or raise DecodeError naming where."""

from __future__ import annotations

import math

import msgpack
from hypothesis import assume, given
from hypothesis import strategies as st

from hope import codec
from hope.codec import DecodeError
from hope.envelope import Envelope, EnvelopeError, new_event, validate_envelope

FIELDS = ["schema_version", "event_type", "event_id", "correlation_id", "causation_id",
          "timestamp", "source", "payload", "publisher", "epoch", "seq", "tseq"]

# Everything MessagePack can carry (ints within 64 bits, floats including NaN and inf, bytes).
packable = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.text(max_size=12) | st.binary(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8) | st.integers(-5, 5), children, max_size=4),
    max_leaves=10)

PAYLOADS = {
    "SIGNAL": {"symbol": "EVXBTC", "strategy": "pump", "price": 1.3e-05, "market_ts": 1.6e9},
    "ORDER": {"symbol": "EVXBTC", "order_id": "c1", "status": "NEW", "quantity": 10.0},
    "PRICE": {"symbol": "EVXBTC", "price": 2e-05, "market_ts": 1.6e9},
    "FILL": {"symbol": "EVXBTC", "order_id": "c1", "filled_qty": 1.0, "avg_price": 2e-05,
             "commission": 0.0, "commission_asset": "BTC"},
}


def valid(event_type: str = "SIGNAL") -> Envelope:
    env = new_event(event_type, PAYLOADS[event_type], source="scanner")
    env.publisher, env.epoch, env.seq, env.tseq = "scanner", "abc123", 7, 3
    return env


def assert_decodes_or_refuses(body: bytes) -> Envelope | None:
    """The invariant every input must satisfy."""
    try:
        env = codec.decode(body)
    except DecodeError as exc:
        assert exc.reason and exc.where, f"refusal without what/where: {exc!r}"
        return None
    # Accepted: it is a valid envelope, and encoding it again gives the same envelope back.
    validate_envelope(env)
    assert codec.decode(codec.encode(env)) == env
    return env


@given(packable)
def test_any_messagepack_object_decodes_or_is_refused(obj):
    """Any well-formed MessagePack value is either a valid envelope or a DecodeError naming where."""
    assert_decodes_or_refuses(msgpack.packb(obj, use_bin_type=True))


@given(st.sampled_from(sorted(PAYLOADS)), st.data())
def test_mutated_frames_decode_or_are_refused(event_type, data):
    """Flipping, truncating, inserting or deleting bytes of a real frame never escapes DecodeError."""
    body = bytearray(codec.encode(valid(event_type)))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(0, len(body) - 1)))
        if op == "flip" and body:
            body[pos] ^= data.draw(st.integers(1, 255))
        elif op == "truncate":
            del body[pos:]
        elif op == "insert":
            body[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and body:
            del body[pos:pos + data.draw(st.integers(1, 8))]
    assert_decodes_or_refuses(bytes(body))


@given(st.sampled_from(FIELDS), packable)
def test_any_field_replaced_by_any_value_is_named_or_harmless(field, value):
    """Replacing one envelope field with an arbitrary value is refused naming a field, unless the
    result is still a valid envelope."""
    data = valid().to_dict()
    data[field] = value
    env = assert_decodes_or_refuses(msgpack.packb(data, use_bin_type=True))
    if env is not None:  # still valid: only fields outside event_id's content can have changed
        assert field in ("publisher", "epoch", "seq", "tseq", "causation_id", "source",
                         "schema_version")


@given(st.sampled_from(FIELDS))
def test_a_missing_field_is_refused_or_defaulted(field):
    """Dropping a required field is refused naming it; optional ones fall back to defaults."""
    data = valid().to_dict()
    del data[field]
    try:
        env = codec.decode(msgpack.packb(data))
    except DecodeError as exc:
        assert field in exc.where or exc.where == "event_id"
    else:
        assert field in ("causation_id", "publisher", "epoch", "seq", "tseq", "schema_version")
        validate_envelope(env)


@given(st.sampled_from(["price", "market_ts"]),
       st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0, -1e-300]))
def test_non_finite_and_non_positive_prices_are_refused(field, bad):
    """NaN, ±inf, zero and negative prices/market times are refused naming payload.<field>."""
    data = valid().to_dict()
    data["payload"][field] = bad
    try:
        codec.decode(msgpack.packb(data))
    except DecodeError as exc:
        assert exc.where == f"payload.{field}"
    else:
        raise AssertionError(f"{field}={bad!r} was accepted")


@given(st.text(max_size=30), packable)
def test_extra_payload_content_changes_the_event_id(key, value):
    """Any content added to a payload after the id was computed is caught by the event_id check."""
    data = valid().to_dict()
    assume(key not in data["payload"])
    data["payload"][key] = value
    try:
        codec.decode(msgpack.packb(data, use_bin_type=True))
    except DecodeError as exc:
        assert exc.where.startswith(("event_id", "payload"))
    else:
        raise AssertionError("tampered payload accepted")


@given(st.integers(3, 10**6).map(lambda n: f"{n}.0") | st.text(max_size=6))
def test_unknown_schema_versions_are_refused(version):
    """A schema version with no upcaster path (a future major, garbage) is refused, never guessed."""
    assume(version.split(".", 1)[0] not in ("1", "2"))
    data = valid().to_dict()
    data["schema_version"] = version
    try:
        codec.decode(msgpack.packb(data))
    except DecodeError as exc:
        assert exc.where == "schema_version"
    else:
        raise AssertionError(f"schema_version {version!r} accepted")


@given(st.binary(min_size=1, max_size=64))
def test_oversized_frames_are_refused_before_parsing(tail):
    """A body above the limit is refused by size, whatever it contains."""
    body = codec.encode(valid()) + tail
    try:
        codec.decode(body, max_bytes=len(body) - 1)
    except DecodeError as exc:
        assert "exceeds" in exc.reason and exc.where == "body"
    else:
        raise AssertionError("oversized body accepted")


def test_decode_error_is_an_envelope_error():
    """Callers catching EnvelopeError also catch every codec refusal."""
    assert issubclass(DecodeError, EnvelopeError)
