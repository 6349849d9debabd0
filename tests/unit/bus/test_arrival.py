"""The checks a received frame passes (hope/bus/arrival.py), without sockets: shape, codec,
topic, seq where the bus recovers; and the in-process bus refusing through the same code."""

from __future__ import annotations

import time

import msgspec
import pytest

from hope import codec
from hope.bus.arrival import NO_SEQ, FrameChecks
from hope.bus.memory import LocalBroker
from hope.config import BusConfig
from hope.envelope import new_event


def _checks(need_seq: bool = False, verify: bool = False) -> tuple[FrameChecks, list]:
    refused: list[tuple[str, str]] = []
    checks = FrameChecks(BusConfig(), lambda frames, reason, where: refused.append((reason, where)),
                         lambda topic: verify, need_seq=need_seq)
    return checks, refused


def _signal(**delivery: object) -> list[bytes]:
    env = new_event("SIGNAL", {"symbol": "EVXBTC", "strategy": "pump", "price": 1.0,
                               "market_ts": 1_610_000_000.0}, source="scanner")
    env = msgspec.structs.replace(env, **delivery)
    return [env.topic.encode(), codec.encode(env)]


def test_a_frame_of_another_shape_is_refused_naming_the_topic():
    """One frame, or four, is refused before any decoding, the reason and topic named."""
    checks, refused = _checks()
    assert checks.read([b"SIGNAL.EVXBTC"], time.time()) is None
    assert checks.read([b"SIGNAL.EVXBTC", b"", b"", b""], time.time()) is None
    assert refused == [("expected 3 frames [topic, body, auth], got 1", "topic b'SIGNAL.EVXBTC'"),
                       ("expected 3 frames [topic, body, auth], got 4", "topic b'SIGNAL.EVXBTC'")]


def test_a_gate_without_a_callback_for_its_refusals_is_refused_at_construction():
    """Checks with an event gate but nowhere to send its refusals would check nothing: refused."""
    with pytest.raises(ValueError, match="unauthentic"):
        FrameChecks(BusConfig(), lambda *a: None, lambda topic: False, gate=object())


def test_a_topic_other_than_the_envelopes_is_refused():
    """A body routed under another event's topic is refused naming the field."""
    checks, refused = _checks()
    frames = _signal()
    assert checks.read([b"SIGNAL.OTHERBTC", frames[1]], time.time()) is None
    (reason, where), = refused
    assert "topic does not match" in reason and where.endswith("field topic")


def test_seq_is_required_only_where_the_bus_recovers():
    """A SIGNAL without publisher/epoch/seq passes a bus that does not recover, not one that
    does; with them it passes both."""
    lenient, _ = _checks()
    strict, refused = _checks(need_seq=True)
    bare = _signal()
    assert lenient.read(bare, time.time()) is not None
    assert strict.read(bare, time.time()) is None and refused[0][0] == NO_SEQ
    stamped = _signal(publisher="scanner", epoch="e1", seq=1, tseq=1)
    assert strict.read(stamped, time.time()).seq == 1


def test_the_callers_id_rule_overrides_the_topic_rule():
    """A forged event id is refused where ids are verified, passed when the caller says not."""
    checks, refused = _checks(verify=True)
    frames = _signal(event_id="sha256:0000000000000000")
    assert checks.read(frames, time.time(), verify_id=False) is not None
    assert checks.read(frames, time.time()) is None and "event_id" in refused[0][1]


async def test_the_in_process_bus_refuses_through_the_same_checks():
    """The in-process bus's refusal reads as the ZeroMQ bus's: reason, topic and field."""
    broker = LocalBroker()
    sub = broker.bus("sub")
    sub.subscribe("SIGNAL")
    await sub.start()
    old = new_event("SIGNAL", {"symbol": "EVXBTC", "strategy": "pump", "price": 1.0,
                               "market_ts": 1.0}, source="scanner",
                    timestamp="2020-01-01T00:00:00.000000Z")
    await broker.bus("scanner").publish(old)
    (topic, reason), = sub.rejected
    assert topic == "SIGNAL.EVXBTC" and "topic b'SIGNAL.EVXBTC' field timestamp" in reason
