"""The audit writer's fast canonical encoder gives json.dumps' exact bytes (the record hash is
SHA-256 of them, and verifiers recompute it with json.dumps)."""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hope.audit.bench import _events
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
