"""The payload bounds: the quick text test that decides whether the exact scan must run."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from hope.jsonbounds import MAX_DEPTH, find_non_finite, may_break_bounds

texts = st.binary(max_size=200) | st.text(alphabet="[{}]0123456789 ,.e", max_size=160).map(
    str.encode)


@given(texts)
def test_may_break_bounds_flags_deep_nesting_and_long_digit_runs(data):
    """True exactly when the text opens more than MAX_DEPTH brackets or has 19 digits in a row."""
    expected = data.count(b"[") + data.count(b"{") > MAX_DEPTH \
        or re.search(rb"[0-9]{19}", data) is not None
    assert may_break_bounds(data) == expected


def test_find_non_finite_names_the_path_of_what_is_wrong():
    """NaN, an integer past 64 bits and bytes are found with their path; clean values are not."""
    assert find_non_finite({"a": [1, 2.5, {"b": "x"}]}, "payload") is None
    assert find_non_finite({"a": [1, float("nan")]}, "payload")[0] == "payload.a[1]"
    path, why = find_non_finite({"q": {"n": 1 << 64}}, "payload")
    assert path == "payload.q.n" and "64-bit" in why
    assert find_non_finite({"raw": b"\x00"}, "payload") == ("payload.raw",
                                                           "bytes is not JSON-compatible")
