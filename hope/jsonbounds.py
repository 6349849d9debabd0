"""What no payload may hold, found without string work on the happy path: NaN/inf, bytes and
other values JSON has no form for, non-string keys, integers outside 64 bits, nesting deeper
than :data:`MAX_DEPTH`. :mod:`hope.envelope` turns what is found into an EnvelopeError.
"""

from __future__ import annotations

from datetime import datetime
from math import isfinite
from typing import Any

import msgspec

# MessagePack values JSON has no form for (bin, ext, the timestamp ext): the id's json.dumps
# refuses them; a subscriber that trusts the id must refuse them too.
NOT_JSON = (bytes, bytearray, msgspec.msgpack.Ext, datetime)
_DEEP = (float, int, dict, list, *NOT_JSON)  # what find_non_finite must look into
# Bounds on what any payload may hold: real payloads nest 5 levels at most (a dead letter's
# embedded DECISION's reasons); integers are what every MessagePack and JSON reader can hold.
MAX_DEPTH = 32
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1


def find_non_finite(value: Any, path: str) -> tuple[str, Any] | None:
    """The path of the first NaN/inf, bytes, non-string key, integer outside 64 bits or
    container nested deeper than MAX_DEPTH, or None."""
    bad = scan(value, 0)
    if bad is None:
        return None
    steps, what = bad
    return path + "".join(reversed(steps)), what


def scan(value: Any, depth: int) -> tuple[list[str], Any] | None:
    """(path steps innermost first, what is wrong) or None. No string work on the happy path
    (this runs on every decode): numbers inside a container are judged in its loop, only
    containers and non-JSON values recurse, and the recursion is bounded by MAX_DEPTH."""
    t = type(value)
    if t is float:
        return None if isfinite(value) else ([], value)
    if t is int:
        return None if INT_MIN <= value <= INT_MAX else ([], _int_reason(value))
    if t in NOT_JSON:
        return ([], f"{t.__name__} is not JSON-compatible")
    if depth >= MAX_DEPTH and t in (dict, list):
        return ([], f"nested deeper than {MAX_DEPTH} levels")
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                return ([], f"non-string key {k!r}")
            tv = type(v)
            if tv is float:
                if not isfinite(v):
                    return ([f".{k}"], v)
            elif tv is int:
                if not INT_MIN <= v <= INT_MAX:
                    return ([f".{k}"], _int_reason(v))
            elif tv in _DEEP:
                bad = scan(v, depth + 1)
                if bad:
                    bad[0].append(f".{k}")
                    return bad
    elif t is list:
        for i, v in enumerate(value):
            tv = type(v)
            if tv is float:
                if not isfinite(v):
                    return ([f"[{i}]"], v)
            elif tv is int:
                if not INT_MIN <= v <= INT_MAX:
                    return ([f"[{i}]"], _int_reason(v))
            elif tv in _DEEP:
                bad = scan(v, depth + 1)
                if bad:
                    bad[0].append(f"[{i}]")
                    return bad
    return None


def _int_reason(value: int) -> str:
    return f"integer outside the 64-bit signed range ({len(str(abs(value)))} digits)"


# A JSON text with at most MAX_DEPTH brackets cannot nest deeper, and one without a run of 19
# digits holds no integer past 64 bits (float reprs never have one): only then is the exact,
# slower scan skipped. Brackets or digits inside strings only cause a needless scan. (C-speed
# byte operations, one pass: digits become "d", opening brackets "b"; a regex for the digit
# run costs 5x more.)
_DIGITS_AND_OPENERS = bytes(ord("d") if 48 <= i <= 57 else ord("b") if i in b"[{" else 32
                            for i in range(256))
_LONG_RUN = b"d" * 19


def may_break_bounds(data: bytes) -> bool:
    marks = data.translate(_DIGITS_AND_OPENERS)
    return marks.count(b"b") > MAX_DEPTH or _LONG_RUN in marks
