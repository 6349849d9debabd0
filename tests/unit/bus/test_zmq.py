"""The ZeroMQ bus's frame handler (``_on_readable`` → ``_on_frames``) driven by fake sockets:
ordering, duplicates, gaps and their REPLAY requests, bad frames, replay answers, the journal
write at the end of a read batch."""

from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path

import pytest
import zmq

from hope import codec
from hope.bus.base import Sequencer
from hope.bus.cursor import Cursors
from hope.bus.reader import COVERAGE_EVERY_S, READ_BATCH
from hope.bus.zmq import ZmqBus
from hope.envelope import Envelope, new_event
from hope.tails import read_frames
from hope.testing import make_config, seal_frames
from tests.helpers import FakePub


class FakeSub:
    """What ``_on_readable`` uses of a SUB socket: EVENTS says POLLIN while frames are queued."""

    FD = 99  # what the loop watches (FakeLoop records it, nothing polls it)

    def __init__(self) -> None:
        self.queue: deque[list[bytes]] = deque()

    def getsockopt(self, option: int) -> int:
        assert option == zmq.EVENTS
        return zmq.POLLIN if self.queue else 0

    def recv_multipart(self, flags: int = 0) -> list[bytes]:
        assert flags == zmq.NOBLOCK
        if not self.queue:
            raise zmq.Again()
        return self.queue.popleft()




class FakeLoop:
    def __init__(self) -> None:
        self.scheduled: list[object] = []
        self.timed: list[tuple[float, object]] = []
        self.now = 100.0

    def call_soon(self, fn: object) -> None:
        self.scheduled.append(fn)

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, fn: object) -> None:
        self.timed.append((when, fn))

    def remove_reader(self, fd: object) -> None:
        self.watching = False

    def add_reader(self, fd: object, fn: object) -> None:
        self.watching = True


class Publisher:
    """Stamps SIGNALs and PRICEs as the publisher ``scanner`` would and returns their wire
    frames (sealed with its key in the state dir the bus under test reads)."""

    def __init__(self, state_dir: Path) -> None:
        self.sequencer = Sequencer("scanner", "ep-scanner")
        self.state_dir = state_dir

    def frames(self, n: int) -> list[bytes]:
        env = new_event("SIGNAL", {"symbol": "EVXBTC", "strategy": "pump", "price": 1.0 + n,
                                   "market_ts": 1_610_000_000.0 + n}, source="scanner")
        return self.sealed(env)

    def price(self, n: int) -> list[bytes]:
        return self.sealed(new_event("PRICE", {"symbol": "EVXBTC", "price": 1.0 + n,
                                               "market_ts": 1_610_000_000.0 + n},
                                     source="scanner"))

    def sealed(self, env: Envelope) -> list[bytes]:
        stamped = self.sequencer.stamp(env)
        self.sequencer.commit(stamped)
        return seal_frames(self.state_dir, "scanner", [stamped.topic.encode(),
                                                       codec.encode(stamped)])


def wire(state_dir: Path, prefix: str = "SIGNAL", journal: bool = False) -> ZmqBus:
    """A ZmqBus subscribed to ``prefix`` with fake sockets in place of the ones start() opens
    (``journal``: its consumer journal opened from the state dir, as start() does)."""
    bad: list[str] = []
    bus = ZmqBus("sub", make_config(state_dir), outbox=False, on_bad_frame=bad.append)
    bus.subscribe(prefix)
    bus.cursors = Cursors(track_all=False)
    if journal:
        bus.journal = bus._journal_factory(bus.cursors)
        bus.journal.open()
    bus._sub, bus._loop, bus.fake_pub = FakeSub(), FakeLoop(), FakePub()
    bus.links.links[0].pub = bus.fake_pub
    bus.links._retarget()
    bus._started = True
    bus.bad_reasons = bad
    return bus


@pytest.fixture
def wired(state_dir: Path):
    """A ZmqBus subscribed to SIGNAL with fake sockets."""
    return wire(state_dir)


def feed(bus: ZmqBus, *messages: list[bytes]) -> list[Envelope]:
    """Queue messages on the fake SUB, let the bus read them, return what it delivered."""
    bus._sub.queue.extend(messages)
    bus._on_readable()
    out = []
    while not bus.inbox.empty():
        out.append(bus.inbox.get_nowait())
    return out


def seqs(envs: list[Envelope]) -> list[int]:
    return [e.seq for e in envs]


def replay_requests(bus: ZmqBus) -> list[dict]:
    sent = [codec.decode(f[1]) for f in bus.fake_pub.sent if f[0] == b"REPLAY.scanner"]
    return [env.payload for env in sent]


def test_in_order_frames_are_delivered_in_order(wired: ZmqBus):
    """Three frames in order: three envelopes in order, nothing pending, nothing counted bad."""
    pub = Publisher(wired.config.state.root)
    got = feed(wired, pub.frames(1), pub.frames(2), pub.frames(3))
    assert seqs(got) == [1, 2, 3] and [e.payload["price"] for e in got] == [2.0, 3.0, 4.0]
    assert wired.counters["received"] == 3 and wired.counters["decode_errors"] == 0
    assert len(wired._pending) == 0 and wired._sub.queue == deque()


def test_duplicate_is_dropped_and_counted(wired: ZmqBus):
    """The same seq twice (e.g. an outbox resend) is delivered once."""
    pub = Publisher(wired.config.state.root)
    one, two = pub.frames(1), pub.frames(2)
    assert seqs(feed(wired, one, two, two, one)) == [1, 2]
    assert wired.counters["duplicates"] == 2


def test_gap_is_delivered_past_and_asked_for_with_a_replay_request(wired: ZmqBus):
    """seq 1 then 4: both delivered at once; 2..3 become a REPLAY request to the publisher."""
    pub = Publisher(wired.config.state.root)
    frames = [pub.frames(n) for n in (1, 2, 3, 4)]
    assert seqs(feed(wired, frames[0], frames[3])) == [1, 4]
    assert len(wired._pending) == 1
    wired._send_due_requests(time.monotonic(), timeout=1.0)
    (req,) = replay_requests(wired)
    assert (req["publisher"], req["epoch"], req["by"], req["event_type"]) == \
        ("scanner", "ep-scanner", "tseq", "SIGNAL")
    assert (req["from"], req["to"], req["reply_to"]) == (2, 3, wired.epoch)
    assert wired.counters["replay_requests"] == 1


def test_replayed_frames_fill_the_gap_and_the_marker_settles_it(wired: ZmqBus):
    """A replay answer delivers the missing events (once), its end marker settles the range."""
    pub = Publisher(wired.config.state.root)
    frames = [pub.frames(n) for n in (1, 2, 3, 4)]
    feed(wired, frames[0], frames[3])
    answer = f"REPLAYED.{wired.epoch}".encode()
    marker = codec.encode_obj({"publisher": "scanner", "epoch": "ep-scanner", "by": "tseq",
                               "event_type": "SIGNAL", "from": 2, "to": 3, "sent": [2, 3],
                               "missing": []})
    got = feed(wired, [answer, *frames[1]], [answer, *frames[2]], [answer, *frames[1]],
               seal_frames(pub.state_dir, "scanner", [answer, b"", marker]))
    assert seqs(got) == [2, 3]
    assert wired.counters["replayed_in"] == 3 and wired.counters["duplicates"] == 1
    wired._send_due_requests(time.monotonic() + 60, timeout=1.0)
    assert replay_requests(wired) == [] and len(wired._pending) == 0


def test_replay_answers_for_another_subscriber_are_ignored(wired: ZmqBus):
    """REPLAYED.<someone else's epoch> and others' HELLO probes are not ours: nothing happens."""
    pub = Publisher(wired.config.state.root)
    assert feed(wired, [b"REPLAYED.other", *pub.frames(1)], [b"HELLO.other", b""]) == []
    assert wired.counters["received"] == 0 and wired.counters["decode_errors"] == 0
    assert not wired._hello.is_set()
    feed(wired, [f"HELLO.{wired.epoch}.0".encode(), b""])
    assert wired._hello.is_set()


def test_bad_frames_are_counted_quarantined_and_delivery_goes_on(wired: ZmqBus, state_dir: Path):
    """One frame, three frames, garbage, a topic that lies, a bad replay answer: each counted,
    kept in quarantine and reported; the good frame after them is delivered."""
    pub = Publisher(wired.config.state.root)
    good = pub.frames(1)
    lying = [b"SIGNAL.OTHERBTC", good[1]]
    got = feed(wired, [b"SIGNAL.EVXBTC"], [b"SIGNAL.EVXBTC", b"x", b"y", b"z"],
               [b"SIGNAL.EVXBTC", b"\xc1\xc1 not msgpack"], lying,
               [f"REPLAYED.{wired.epoch}".encode(), b"only two"], good)
    assert seqs(got) == [1]
    assert wired.counters["decode_errors"] == 5 and wired.quarantine.count == 5
    reasons = wired.bad_reasons
    assert "expected 3 frames" in reasons[0] and "expected 3 frames" in reasons[1]
    assert "malformed MessagePack" in reasons[2]
    assert "topic does not match" in reasons[3]
    assert "replay answer has 2 frames" in reasons[4]
    assert wired.quarantine.path.exists() and wired.quarantine.path.stat().st_size > 0
    assert state_dir in wired.quarantine.path.parents


def test_unsubscribed_topic_is_decoded_but_not_delivered(wired: ZmqBus):
    """A PRICE reaching a SIGNAL-only subscriber (e.g. a heartbeat's neighbour) is dropped."""
    env = new_event("PRICE", {"symbol": "EVXBTC", "price": 1.0, "market_ts": 1.6e9},
                    source="scanner")
    env = Sequencer("scanner", "ep-scanner").stamp(env)
    frames = seal_frames(wired.config.state.root, "scanner", [env.topic.encode(),
                                                               codec.encode(env)])
    assert feed(wired, frames) == []
    assert wired.counters["received"] == 1 and wired.counters["decode_errors"] == 0


def test_a_failing_delivery_does_not_stop_the_read_loop(wired: ZmqBus):
    """An exception out of the delivery callback is logged; the next frames still arrive."""
    pub = Publisher(wired.config.state.root)
    got: list[int] = []

    def deliver(env: Envelope) -> None:
        if env.seq == 1:
            raise RuntimeError("handler bug")
        got.append(env.seq)

    wired.deliver_to(deliver)
    feed(wired, pub.frames(1), pub.frames(2), pub.frames(3))
    assert got == [2, 3]


def test_a_full_batch_reschedules_the_reader_instead_of_starving_the_loop(wired: ZmqBus):
    """More than READ_BATCH queued frames: one batch is read, the rest waits for call_soon."""
    pub = Publisher(wired.config.state.root)
    wired._sub.queue.extend(pub.frames(n) for n in range(1, READ_BATCH + 11))
    wired._on_readable()
    assert wired.inbox.qsize() == READ_BATCH and len(wired._sub.queue) == 10
    assert wired._loop.scheduled == [wired._read_batch]
    wired._on_readable()
    assert wired.inbox.qsize() == READ_BATCH + 10


def journal_records(bus: ZmqBus) -> list[list]:
    frames, _ = read_frames(bus.journal.path.read_bytes())
    return [codec.decode_obj(chunk) for _, chunk in frames]


def test_a_read_batch_of_idempotent_events_is_journaled_with_one_write(state_dir: Path,
                                                                        monkeypatch):
    """READ_BATCH + 10 PRICEs handled as idempotent: one journal write per read batch (the
    batches COVERAGE_EVERY_S apart), each a range of the numbers it read, no event id kept."""
    bus = wire(state_dir, "PRICE", journal=True)
    bus.deliver_to(lambda env: bus.consumed(env, ["on_price"], idempotent=True))
    writes: list[int] = []
    real = os.write
    monkeypatch.setattr("hope.bus.consumed.os.write",
                        lambda fd, data: writes.append(len(data)) or real(fd, data))
    pub = Publisher(state_dir)
    bus._sub.queue.extend(pub.price(n) for n in range(1, READ_BATCH + 11))
    bus._on_readable()
    assert len(writes) == 1
    bus._loop.now += COVERAGE_EVERY_S
    bus._on_readable()
    assert len(writes) == 2
    assert journal_records(bus) == [["c", "scanner", "ep-scanner", "PRICE", 1, READ_BATCH],
                                    ["c", "scanner", "ep-scanner", "PRICE", READ_BATCH + 1,
                                     READ_BATCH + 10]]
    assert not bus.journal.done


def test_read_batches_closer_than_the_interval_share_one_coverage_write(state_dir: Path,
                                                                        monkeypatch):
    """Three one-PRICE read batches within COVERAGE_EVERY_S: the first is written at once,
    the other two together by one timer at the interval's end; nothing is left out."""
    bus = wire(state_dir, "PRICE", journal=True)
    bus.deliver_to(lambda env: bus.consumed(env, ["on_price"], idempotent=True))
    writes: list[int] = []
    real = os.write
    monkeypatch.setattr("hope.bus.consumed.os.write",
                        lambda fd, data: writes.append(len(data)) or real(fd, data))
    pub = Publisher(state_dir)
    for n, at in ((1, 100.0), (2, 100.001), (3, 100.002)):
        bus._loop.now = at
        feed(bus, pub.price(n))
    assert len(writes) == 1 and len(bus._loop.timed) == 1
    when, flush = bus._loop.timed[0]
    assert when == pytest.approx(100.0 + COVERAGE_EVERY_S)
    bus._loop.now = when
    flush()
    assert len(writes) == 2
    assert journal_records(bus) == [["c", "scanner", "ep-scanner", "PRICE", 1, 1],
                                    ["c", "scanner", "ep-scanner", "PRICE", 2, 3]]


def test_a_restarted_consumer_asks_only_for_the_prices_it_did_not_cover(state_dir: Path):
    """PRICE 1..5 covered before a restart: after it, PRICE 8 arriving asks for 6..7 only."""
    pub = Publisher(state_dir)
    first = wire(state_dir, "PRICE", journal=True)
    first.deliver_to(lambda env: first.consumed(env, ["on_price"], idempotent=True))
    feed(first, *(pub.price(n) for n in range(1, 6)))
    first.journal.close()
    for n in (6, 7):
        pub.price(n)  # published while the consumer was down
    again = wire(state_dir, "PRICE", journal=True)
    assert again.cursors.get(("scanner", "ep-scanner", "PRICE")).low == 5
    assert seqs(feed(again, pub.price(8))) == [8]
    again._send_due_requests(time.monotonic(), timeout=1.0)
    (req,) = replay_requests(again)
    assert (req["event_type"], req["from"], req["to"]) == ("PRICE", 6, 7)


def test_spaced_reads_take_what_came_within_the_gap_in_one_later_read(wired: ZmqBus):
    """With a 5 ms gap: the first readable reads at once; frames readable 1 and 2 ms later wait
    for one timer at the gap's end, which reads them all; nothing is lost or reordered."""
    pub = Publisher(wired.config.state.root)
    wired.space_reads(0.005)
    wired._sub.queue.append(pub.frames(1))
    wired._on_readable()
    assert wired.inbox.qsize() == 1 and wired._loop.timed == []
    for n, at in ((2, 100.001), (3, 100.002)):
        wired._loop.now = at
        wired._sub.queue.append(pub.frames(n))
        wired._on_readable()
    assert wired.inbox.qsize() == 1 and len(wired._loop.timed) == 1
    assert not wired._loop.watching  # an unread FD stays readable: not watched meanwhile
    when, read = wired._loop.timed[0]
    assert when == pytest.approx(100.005)
    wired._loop.now = when
    read()
    assert [wired.inbox.get_nowait().seq for _ in range(3)] == [1, 2, 3]
    assert wired._loop.watching
