"""The MessagePack codec: round trips, interop with the msgpack package, refusals."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hope import codec
from hope.codec import DecodeError
from hope.envelope import Envelope, new_event
from tests.strategies import json_values

SIGNAL = {"symbol": "EVXBTC", "strategy": "pump", "price": 1.3e-05, "market_ts": 1610226000.5}

values = json_values()


def sample() -> Envelope:
    return new_event("SIGNAL", SIGNAL, source="scanner")


@given(extra=st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=5))
def test_round_trip_preserves_every_field(extra):
    """encode → decode gives back an equal envelope, for arbitrary JSON-like payload extras."""
    payload = {**extra, **SIGNAL}
    env = new_event("SIGNAL", payload, source="scanner")
    assert codec.decode(codec.encode(env)) == env


def test_msgpack_package_reads_hope_frames():
    """The plain msgpack package decodes HOPE's bytes into the same map."""
    env = sample()
    data = msgpack.unpackb(codec.encode(env))
    assert data == env.to_dict()


def test_hope_reads_frames_written_by_msgpack():
    """Frames packed by the msgpack package decode and validate here."""
    env = sample()
    assert codec.decode(msgpack.packb(env.to_dict())) == env


@given(st.binary(max_size=300))
def test_garbage_bytes_raise_decode_error_only(data):
    """Random bytes never raise anything but DecodeError (or decode to a valid envelope)."""
    try:
        codec.decode(data)
    except DecodeError as exc:
        assert str(exc)


@pytest.mark.parametrize("mutate,where", [
    (lambda d: d.pop("event_id"), "event_id"),
    (lambda d: d.__setitem__("source", 7), "source"),
    (lambda d: d.__setitem__("payload", [1, 2]), "payload"),
    (lambda d: d["payload"].__setitem__("price", math.nan), "payload.price"),
    (lambda d: d.__setitem__("event_id", "sha256:0000000000000000"), "event_id"),
    (lambda d: d.__setitem__("schema_version", "9.0"), "schema_version"),
    (lambda d: d.__setitem__("timestamp", "yesterday"), "timestamp"),
])
def test_bad_envelopes_name_the_field(mutate, where):
    """Missing, mistyped, non-finite, unknown-version and tampered fields are named."""
    data = sample().to_dict()
    mutate(data)
    with pytest.raises(DecodeError) as info:
        codec.decode(msgpack.packb(data))
    assert info.value.where.startswith(where)


def test_truncated_and_wrong_shape_and_oversized_frames_are_refused():
    """Truncated MessagePack, a non-map body and an oversized frame each get a clear error."""
    body = codec.encode(sample())
    with pytest.raises(DecodeError, match="malformed"):
        codec.decode(body[:-5])
    with pytest.raises(DecodeError, match="not a map|Expected `object`"):
        codec.decode(msgpack.packb([1, 2, 3]))
    with pytest.raises(DecodeError, match="exceeds"):
        codec.decode(body, max_bytes=100)


def test_verify_id_false_trusts_the_id_but_keeps_every_other_check():
    """Without id verification a wrong id passes, while NaN, bytes, bad payload fields, bad
    timestamps and malformed ids are still refused, naming the field."""
    env = sample()
    forged = codec.encode(Envelope(**{**env.to_dict(), "event_id": "sha256:0123456789abcdef"}))
    assert codec.decode(forged, verify_id=False).event_id == "sha256:0123456789abcdef"
    with pytest.raises(DecodeError, match="does not match") as exc:
        codec.decode(forged)
    assert exc.value.where == "event_id"
    cases = {
        "payload.price": {"payload": {**SIGNAL, "price": math.nan}},
        "payload.blob": {"payload": {**SIGNAL, "blob": b"\x00"}},
        "payload.ext": {"payload": {**SIGNAL, "ext": msgpack.ExtType(5, b"x")}},
        "payload.when[0]": {"payload": {**SIGNAL, "when": [msgpack.Timestamp(1, 0)]}},
        "payload.symbol": {"payload": {**SIGNAL, "symbol": 7}},
        "timestamp": {"timestamp": "yesterday"},
        "event_id": {"event_id": "42"},
    }
    for where, change in cases.items():
        body = msgpack.packb({**env.to_dict(), **change})
        with pytest.raises(DecodeError) as exc:
            codec.decode(body, verify_id=False)
        assert exc.value.where == where, (where, exc.value)
