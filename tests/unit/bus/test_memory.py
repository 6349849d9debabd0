"""The in-process bus: every delivery goes through the codec and the ZeroMQ bus's validation."""

from __future__ import annotations

import msgspec

from hope.bus.memory import LocalBroker
from hope.config import BusConfig
from hope.envelope import new_event


def signal(**extra: object):
    return new_event("SIGNAL", {"symbol": "EVXBTC", "strategy": "pump", "price": 1.5e-5,
                                "market_ts": 1_610_000_000.0, **extra}, source="scanner")


async def started(broker: LocalBroker, name: str, prefix: str = "SIGNAL"):
    bus = broker.bus(name)
    bus.subscribe(prefix)
    await bus.start()
    return bus


async def test_each_subscriber_gets_its_own_decoded_copy():
    """Two subscribers receive equal envelopes, decoded separately: not the publisher's object."""
    broker = LocalBroker()
    a, b = await started(broker, "a"), await started(broker, "b")
    sent = await broker.bus("scanner").publish(signal())
    got_a, got_b = a.inbox.get_nowait(), b.inbox.get_nowait()
    assert got_a == sent == got_b
    assert got_a is not sent and got_b is not sent and got_a is not got_b
    assert got_a.payload is not got_b.payload
    assert (sent.publisher, sent.seq, sent.tseq) == ("scanner", 1, 1)


async def test_event_outside_the_timestamp_window_is_refused_and_counted():
    """An event older than max_age_s is not delivered; the subscriber counts and keeps why."""
    broker = LocalBroker()
    sub = await started(broker, "sub")
    old = new_event("SIGNAL", signal().payload, source="scanner",
                    timestamp="2020-01-01T00:00:00.000000Z")
    await broker.bus("scanner").publish(old)
    assert sub.inbox.empty()
    assert sub.decode_errors == 1 and sub.stats()["decode_errors"] == 1
    (topic, reason), = sub.rejected
    assert topic == "SIGNAL.EVXBTC" and "in the past" in reason and "timestamp" in reason


async def test_event_id_is_checked_only_where_verify_ids_asks():
    """A forged event id is refused by a subscriber that verifies ids, delivered to one that
    does not (the ZeroMQ bus's split, docs/ARCHITECTURE.md "Where event ids are verified")."""
    broker = LocalBroker()
    checking, trusting = await started(broker, "checking"), await started(broker, "trusting")
    checking.verify_ids("SIGNAL")
    forged = msgspec.structs.replace(signal(), event_id="sha256:0000000000000000")
    await broker.bus("scanner").publish(forged)
    assert checking.inbox.empty() and "event_id" in checking.rejected[0][1]
    assert trusting.inbox.get_nowait().event_id == "sha256:0000000000000000"


async def test_size_limit_of_the_broker_applies():
    """A body over the broker's max_message_bytes is refused before it is parsed."""
    broker = LocalBroker(BusConfig(max_message_bytes=256))
    sub = await started(broker, "sub")
    await broker.bus("scanner").publish(signal(note="x" * 300))
    assert sub.inbox.empty() and "exceeds" in sub.rejected[0][1]


async def test_unsubscribed_and_stopped_buses_get_nothing():
    """Only started buses with a matching prefix receive; stop() removes a bus."""
    broker = LocalBroker()
    prices, sigs = await started(broker, "prices", "PRICE"), await started(broker, "sigs")
    await sigs.stop()
    await broker.bus("scanner").publish(signal())
    assert prices.inbox.empty() and sigs.inbox.empty()
    assert len(broker.published) == 1


async def test_last_value_prefix_keeps_the_newest_and_refuses_a_bad_one_when_read():
    """A last-value prefix queues nothing: the newest event per topic is read on demand, with
    the same checks (an event too old is refused and counted; the value before it stays)."""
    broker = LocalBroker()
    sub = broker.bus("sub")
    sub.keep_latest("SIGNAL")
    await sub.start()
    scanner = broker.bus("scanner")
    await scanner.publish(signal(note="first"))
    await scanner.publish(signal(note="second"))
    assert sub.inbox.empty() and sub.received_types == {"SIGNAL": 2}
    assert sub.read_latest("SIGNAL.EVXBTC").payload["note"] == "second"
    assert sub.newest_topics("SIGNAL")[0] == "SIGNAL.EVXBTC"
    await scanner.publish(new_event("SIGNAL", signal().payload, source="scanner",
                                    timestamp="2020-01-01T00:00:00.000000Z"))
    assert sub.read_latest("SIGNAL.EVXBTC").payload["note"] == "second"
    assert sub.decode_errors == 1
    (topic, reason), = sub.rejected
    assert topic == "SIGNAL.EVXBTC" and "in the past" in reason
