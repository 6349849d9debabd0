"""The audit writer's fast canonical encoders give json.dumps' exact bytes (the record hash is
SHA-256 of them, and verifiers recompute it with json.dumps)."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from enum import StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hope.audit.bench import _events
from hope.audit.canonical import _Record, seal_event, seal_leaf
from hope.envelope import Envelope
from hope.jsontext import canonical_bytes
from tests.strategies import json_values


def reference(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# Floats of every magnitude: the layouts differ below 1e-4 and from 1e16 up.
any_float = st.floats(allow_nan=True, allow_infinity=True)
magnitudes = st.builds(lambda m, e: m * 10.0 ** e, st.floats(-10, 10), st.integers(-320, 308))
boundaries = st.sampled_from([1e-4, 9.999999999999999e-05, 1e-5, 9.99999e-6, 1e-6, 1e-10,
                              1e16, 9.999999999999998e15, 1e22, 1e-16, 5e-324, 2.0 ** 53,
                              1.7976931348623157e308, -0.0, 0.0, 1e-4 + 1e-20])
floats = any_float | magnitudes | boundaries | boundaries.map(lambda x: -x)
keys = st.text(max_size=8) | st.sampled_from(["price", "é", "😀", "\x00", "\u2028", "a\"b", "Z"])
leaves = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=12)
          | floats)
trees = st.recursive(leaves, lambda c: st.lists(c, max_size=4) | st.tuples(c, c)
                     | st.dictionaries(keys, c, max_size=5), max_leaves=30)


def envelope_record(payload: dict, i: int) -> dict:
    env = _events(1)[0]
    rec = env.to_dict()
    rec["payload"] = payload
    rec["prev_hash"], rec["leaf"] = "ab" * 32, i
    return rec


@given(value=trees)
def test_any_json_tree_matches_json_dumps(value):
    """Nested dicts, lists, tuples, unicode, big ints, floats of every magnitude and NaN/inf."""
    assert canonical_bytes(value) == reference(value)


@given(payload=st.dictionaries(keys, trees, max_size=8), leaf=st.integers(0, 2**40))
def test_audit_records_match_json_dumps(payload, leaf):
    """Records shaped as the writer seals them: envelope fields, a payload, prev_hash, leaf."""
    rec = envelope_record(payload, leaf)
    assert canonical_bytes(rec) == reference(rec)


@given(value=json_values(max_int=2**70, max_leaves=25))
def test_shared_json_values_match(value):
    """The strategy the other encoders are checked with."""
    assert canonical_bytes({"v": value}) == reference({"v": value})


@pytest.mark.parametrize("x", [5e-05, 1e16, 1e+16, 1e-06, 1.2345678901234567e19, -7e-05,
                               float("nan"), math.inf, -math.inf])
def test_floats_msgspec_lays_out_differently(x):
    """The known differences (0.00005 vs 5e-05, 1e16 vs 1e+16, null vs NaN) are put back."""
    assert canonical_bytes({"p": [x, {"q": x}]}) == reference({"p": [x, {"q": x}]})


@pytest.mark.parametrize("value", [{1: 2}, {"a": b"x"}, {"a": {1, 2}}, OrderedDict(b=1, a=2),
                                   {"a": True, "b": [None, 3]}])
def test_values_json_dumps_treats_specially_take_json_dumps(value):
    """Non-string keys, bytes, sets, dict subclasses: the same result as json.dumps, error or not."""
    try:
        want = reference(value)
    except TypeError as exc:
        with pytest.raises(type(exc)):
            canonical_bytes(value)
        return
    assert canonical_bytes(value) == want


def test_lone_surrogate_fails_like_json_dumps():
    """Text that cannot be UTF-8 encoded raises the same error as encoding json.dumps' text."""
    with pytest.raises(UnicodeEncodeError):
        canonical_bytes({"a": "\ud800"})


def sealed_as_dict(env, principal, prev_hash, leaf):
    rec = env.to_dict()
    rec["principal"], rec["prev_hash"], rec["leaf"] = principal, prev_hash, leaf
    return seal_leaf(rec)


def sealed(env, principal, prev_hash, leaf):
    """seal_event's results as seal_leaf gives them: (hash, line, leaf hash)."""
    into = bytearray(b"before\n")
    digest, leaf_hash = seal_event(env, principal, prev_hash, leaf, into)
    assert into.startswith(b"before\n")
    return digest, bytes(into[7:]), leaf_hash


@given(payload=st.dictionaries(keys, trees, max_size=8), leaf=st.integers(0, 2**40),
       principal=st.none() | st.text(max_size=6), causation=st.none() | st.text(max_size=6),
       seq=st.integers(0, 2**63), publisher=st.none() | st.text(max_size=6))
def test_seal_event_matches_the_dict_path(payload, leaf, principal, causation, seq, publisher):
    """The writer's record from an envelope: hash, line and leaf as from its dict, text as
    json.dumps'."""
    env = _events(1)[0]
    env.payload, env.causation_id, env.seq, env.publisher = payload, causation, seq, publisher
    got = sealed(env, principal, "cd" * 32, leaf)
    assert got == sealed_as_dict(env, principal, "cd" * 32, leaf)
    rec = dict(env.to_dict(), principal=principal, prev_hash="cd" * 32, leaf=leaf)
    assert got[1] == reference(rec)[:-1] + b',"hash":"' + got[0].encode() + b'"}\n'


class Kind(StrEnum):
    PRICE = "PRICE"


@pytest.mark.parametrize("field, value", [
    ("event_type", Kind.PRICE), ("seq", 1.5e-7), ("seq", True), ("tseq", 2**70),
    ("source", ["a", 1e-9]), ("epoch", {"a": 1e20}), ("payload", OrderedDict(b=1e-6, a=2)),
    ("payload", {"a": (1, 5e-5)}), ("payload", {"a": b"x"}), ("payload", {1: 2}),
    ("causation_id", 3)])
def test_seal_event_of_odd_field_types_matches_the_dict_path(field, value):
    """Values a decoded envelope never holds take the dict path: the same bytes or error."""
    env = _events(1)[0]
    setattr(env, field, value)
    try:
        want = sealed_as_dict(env, "scanner", "ab" * 32, 7)
    except TypeError as exc:
        into = bytearray()
        with pytest.raises(type(exc)):
            seal_event(env, "scanner", "ab" * 32, 7, into)
        assert into == b""  # nothing of a record that cannot be written
        return
    assert sealed(env, "scanner", "ab" * 32, 7) == want


def test_the_record_struct_has_every_envelope_field():
    """A field added to Envelope must reach the record (else it would be silently dropped)."""
    assert set(_Record.__struct_fields__) == {*Envelope.__struct_fields__, "principal",
                                              "prev_hash", "leaf"}


def test_a_decoded_envelope_takes_the_fast_path(monkeypatch):
    """An envelope as the bus decodes it is sealed without the dict path."""
    env = _events(1)[0]
    want = sealed_as_dict(env, None, "ab" * 32, 3)
    monkeypatch.setattr("hope.audit.canonical.seal_leaf", None)  # the dict path would fail
    assert sealed(env, None, "ab" * 32, 3) == want
