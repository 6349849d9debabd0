"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st


def json_values(max_int: int = 2**53, max_leaves: int = 20) -> st.SearchStrategy:
    """Trees of JSON values: null, bools, ints in ±max_int, unicode text, finite floats."""
    return st.recursive(
        st.none() | st.booleans() | st.integers(-max_int, max_int) | st.text(max_size=12)
        | st.floats(allow_nan=False, allow_infinity=False),
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=5),
        max_leaves=max_leaves)
