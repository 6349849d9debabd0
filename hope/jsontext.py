"""Exact ``json.dumps`` text, faster: one prebuilt C encoder per set of options.

The event id (CONVENTIONS: ``json.dumps(payload, sort_keys=True)``) and the audit record hash
(sorted keys, ``(",", ":")``, ``ensure_ascii=False``) are defined by json.dumps' exact output;
json.dumps builds a new encoder on every call, about a third of its cost for small payloads.

:func:`canonical_bytes` is the audit record text, UTF-8 encoded, from msgspec's encoder (about a
fifth of the C json encoder's cost) with the one thing msgspec writes differently put back:
floats. Both print the shortest digits that round-trip, but for magnitudes below 1e-4 or from
1e16 up (and NaN/inf) Python's ``repr`` chooses another layout (``5e-05``, ``1e+16``, ``NaN``
where msgspec writes ``0.00005``, ``1e16``, ``null``). Those floats are handed to msgspec as
``msgspec.Raw(repr(x))``; anything that is not a plain JSON value (a subclass, bytes, a set, a
non-string key, ...) takes json.dumps itself, so the text is json.dumps' in every case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring,
    encode_basestring_ascii,
)
from typing import Any

import msgspec


def dumps_function(*, sort_keys: bool = False, separators: tuple[str, str] = (", ", ": "),
                   ensure_ascii: bool = True, allow_nan: bool = True) -> Callable[[Any], str]:
    """A ``dumps(obj)`` giving ``json.dumps(obj, **these options)``'s text. No circular-reference
    check (callers pass trees of MessagePack/JSON values; a cycle ends in RecursionError)."""
    base = json.JSONEncoder(sort_keys=sort_keys, separators=separators,
                            ensure_ascii=ensure_ascii, allow_nan=allow_nan)
    if c_make_encoder is None:  # not CPython's C json: the same text, slower
        return base.encode
    item_sep, key_sep = separators
    enc = c_make_encoder(None, base.default,
                         encode_basestring_ascii if ensure_ascii else encode_basestring, None,
                         key_sep, item_sep, sort_keys, False, allow_nan)
    return lambda obj: "".join(enc(obj, 0))


_CANONICAL_TEXT = dumps_function(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# Sorts dict keys and a Struct's fields alike.
SORTED_ENCODE = msgspec.json.Encoder(order="sorted").encode
_RAW = msgspec.Raw
_FLOAT_REPR = float.__repr__
_INF = float("inf")
_SCALARS = frozenset((str, int, bool, type(None)))  # the same text from both encoders


class _NotPlain(Exception):
    """A value msgspec might write differently from json.dumps (or json.dumps refuses)."""


# What canonical_bytes' fast path can raise: a value json.dumps writes otherwise or refuses
# (TypeError: a non-str key).
NOT_PLAIN = (_NotPlain, TypeError, ValueError, RecursionError)


def canonical_bytes(obj: Any) -> bytes:
    """``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()``.

    (Integers past json's 4,300-digit limit, which json.dumps refuses, are written out; no
    envelope holds one: payload integers are bounded to 64 bits.)"""
    try:
        fixed = _fixed(obj)
        return SORTED_ENCODE(obj if fixed is None else fixed)
    except NOT_PLAIN:
        return _CANONICAL_TEXT(obj).encode()


def _float_text(x: float) -> bytes:
    """json.dumps' text of a float (allow_nan): ``repr`` or NaN / Infinity / -Infinity."""
    if x != x:
        return b"NaN"
    if x == _INF:
        return b"Infinity"
    if x == -_INF:
        return b"-Infinity"
    return _FLOAT_REPR(x).encode()


def _fixed(v: Any) -> Any:
    """``v`` with every float msgspec would lay out differently wrapped as Raw (None: as is)."""
    t = type(v)
    if t in _SCALARS:
        return None
    if t is float:
        # repr's fixed-point range, where msgspec agrees (NaN fails both comparisons)
        if 1e-4 <= v < 1e16 or -1e16 < v <= -1e-4 or v == 0.0:
            return None
        return _RAW(_float_text(v))
    if t is dict:
        return fix_dict(v)
    if t is list or t is tuple:
        return _fix_list(v)
    raise _NotPlain


def fix_dict(obj: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of the plain dict ``obj`` for msgspec's sorted encoder (:data:`SORTED_ENCODE`) to
    write canonical_bytes' text, floats wrapped; None when ``obj`` needs none; raises one of
    :data:`NOT_PLAIN` for what only json.dumps writes right (the caller then uses it)."""
    out = None
    for k, v in obj.items():
        t = type(v)
        if t in _SCALARS:
            continue
        if t is float:  # inline: most floats need nothing, and a call costs more than the test
            if 1e-4 <= v < 1e16 or -1e16 < v <= -1e-4 or v == 0.0:
                continue
            nv = _RAW(_float_text(v))
        else:
            nv = _fixed(v)
            if nv is None:
                continue
        if out is None:
            out = dict(obj)
        out[k] = nv
    return out


def _fix_list(obj: list[Any] | tuple[Any, ...]) -> list[Any] | None:
    out = None
    for i, v in enumerate(obj):
        t = type(v)
        if t in _SCALARS:
            continue
        if t is float:
            if 1e-4 <= v < 1e16 or -1e16 < v <= -1e-4 or v == 0.0:
                continue
            nv = _RAW(_float_text(v))
        else:
            nv = _fixed(v)
            if nv is None:
                continue
        if out is None:
            out = list(obj)
        out[i] = nv
    return out
