"""Bounded input on the bus decode: nesting depth, integer range and symbols are refused as
DecodeError naming where, never a RecursionError past the codec."""

from __future__ import annotations

import msgspec
import pytest

from hope import codec
from hope.codec import DecodeError
from hope.envelope import MAX_DEPTH, EnvelopeError, new_event

SIGNAL = {"symbol": "EVXBTC", "strategy": "pump", "price": 1.3e-05, "market_ts": 1610226000.5}
_MARK = "PLACEHOLDER-VALUE"


def _frame_with(raw_value: bytes) -> bytes:
    """A SIGNAL frame whose payload field ``deep`` holds the given raw MessagePack bytes."""
    env = new_event("SIGNAL", {**SIGNAL, "deep": _MARK}, source="scanner")
    return codec.encode(env).replace(msgspec.msgpack.encode(_MARK), raw_value)


def _nested(kind: str, depth: int) -> bytes:
    return (b"\x91" if kind == "list" else b"\x81\xa1a") * depth + b"\xc0"


@pytest.mark.parametrize("kind", ["list", "dict"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_500, 100_000])
@pytest.mark.parametrize("verify_id", [True, False])
def test_deep_frames_are_decode_errors(kind, depth, verify_id):
    """A frame nested past MAX_DEPTH (also 1,500 or 100,000 deep) is a DecodeError naming depth."""
    body = _frame_with(_nested(kind, depth))
    with pytest.raises(DecodeError, match="nested deeper than"):
        codec.decode(body, verify_id=verify_id)


def test_the_attack_frame_is_small():
    """The 1,500-deep frame of the attack is about 1.5 KB: size limits alone never stop it."""
    assert len(_frame_with(_nested("list", 1_500))) < 2_000


def test_nesting_within_the_bound_still_decodes_structurally():
    """A payload nested below MAX_DEPTH passes the structural checks (only its id is stale)."""
    body = _frame_with(_nested("dict", MAX_DEPTH - 2))
    env = codec.decode(body, verify_id=False)
    assert env.payload["deep"]["a"]["a"] is not None


@pytest.mark.parametrize("value", [2**63, 2**64 - 1])
@pytest.mark.parametrize("verify_id", [True, False])
def test_integers_outside_64_bit_signed_are_refused(value, verify_id):
    """Integers MessagePack can carry but int64 cannot hold are refused, naming the field."""
    body = _frame_with(msgspec.msgpack.encode(value))
    with pytest.raises(DecodeError, match="64-bit") as info:
        codec.decode(body, verify_id=verify_id)
    assert info.value.where == "payload.deep"


def test_new_event_refuses_huge_integers_and_deep_payloads():
    """Publishers cannot build out-of-bounds events either (the gateway relies on this)."""
    with pytest.raises(EnvelopeError, match="64-bit"):
        new_event("SIGNAL", {**SIGNAL, "n": 10**30}, source="gateway")
    deep: list = []
    for _ in range(2_000):
        deep = [deep]
    with pytest.raises(EnvelopeError, match="nested deeper"):
        new_event("SIGNAL", {**SIGNAL, "deep": deep}, source="gateway")


@pytest.mark.parametrize("symbol", ["evxbtc", "E", "EVX/BTC", "EVXBTC\x1b[2J", "ЕVXBTC",
                                    "A" * 21, ""])
def test_symbols_outside_the_alphabet_are_refused(symbol):
    """Symbols must be 2-20 characters of A-Z 0-9 on every event type that carries one."""
    with pytest.raises(EnvelopeError, match="A-Z 0-9") as info:
        new_event("SIGNAL", {**SIGNAL, "symbol": symbol}, source="scanner")
    assert info.value.where == "payload.symbol"


def test_long_digit_strings_and_bracket_text_are_no_false_refusals():
    """Text that merely looks like a big integer or deep nesting (inside strings) passes."""
    env = new_event("SIGNAL", {**SIGNAL, "note": "1" * 40, "brackets": "[" * 100},
                    source="scanner")
    assert codec.decode(codec.encode(env)) == env


def test_decode_obj_refuses_deep_bodies():
    """Replay markers and other plain objects are bounded the same way."""
    with pytest.raises(DecodeError, match="nested deeper"):
        codec.decode_obj(b"\x91" * 100_000 + b"\xc0")
