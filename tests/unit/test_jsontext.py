"""The prebuilt JSON encoders give json.dumps' exact text (the event id and audit hash depend on it)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from hope.jsontext import dumps_function
from tests.strategies import json_values

values = json_values(max_int=2**70, max_leaves=25)

OPTIONS = [
    {"sort_keys": True},
    {"sort_keys": True, "allow_nan": False},
    {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False},
]


@pytest.mark.parametrize("options", OPTIONS)
@given(value=values)
def test_same_text_as_json_dumps(options, value):
    """Unicode, escapes, float forms, big ints, nesting: byte for byte json.dumps."""
    assert dumps_function(**options)(value) == json.dumps(value, **options)


def test_nan_is_refused_when_not_allowed_and_the_encoder_stays_usable():
    """allow_nan=False raises ValueError like json.dumps, and the next call still works."""
    strict = dumps_function(sort_keys=True, allow_nan=False)
    with pytest.raises(ValueError):
        strict({"a": [1.0, float("nan")]})
    assert strict({"b": 1, "a": 2.5}) == '{"a": 2.5, "b": 1}'
