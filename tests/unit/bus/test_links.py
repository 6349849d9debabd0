"""Two proxies, active-active, at the bus's frame handler (fake sockets): each link ready only
once its own HELLO came back, sends go to ready links, copies from the second proxy are dropped
before decoding, holes wait for the slower proxy, and a replay answer heard twice settles once."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import pytest
import zmq

from hope import codec
from hope.bus.base import Sequencer
from hope.bus.cursor import Cursors, RecentCopies
from hope.bus.links import hello_epoch
from hope.bus.zmq import ZmqBus
from hope.envelope import new_event
from hope.testing import make_config, seal_frames
from tests.helpers import FakePub


class FakeSub:
    def __init__(self) -> None:
        self.queue: deque[list[bytes]] = deque()

    def getsockopt(self, option: int) -> int:
        return zmq.POLLIN if self.queue else 0

    def recv_multipart(self, flags: int = 0) -> list[bytes]:
        if not self.queue:
            raise zmq.Again()
        return self.queue.popleft()




class FakeLoop:
    def call_soon(self, fn: object, *args: object) -> None:
        pass

    def time(self) -> float:
        return 0.0

    def call_at(self, when: float, fn: object, *args: object) -> None:
        pass


@pytest.fixture
def dual(state_dir: Path) -> ZmqBus:
    """A bus configured with two proxies, fake PUBs on both links, neither ready yet."""
    config = make_config(state_dir, {"bus": {"transport": "tcp", "proxy_hosts": ["10.0.0.1",
                                                                                  "10.0.0.2"]}})
    bus = ZmqBus("sub", config, outbox=False)
    bus.subscribe("SIGNAL")
    bus.cursors = Cursors(track_all=False)
    bus._sub, bus._loop, bus._started = FakeSub(), FakeLoop(), True
    for link in bus.links.links:
        link.pub = FakePub()
    bus.links._retarget()
    return bus


def frames(bus: ZmqBus, seq: Sequencer, n: int) -> list[bytes]:
    """A SIGNAL of ``scanner`` as the wire carries it, sealed with its key."""
    env = seq.stamp(new_event("SIGNAL", {"symbol": "EVXBTC", "strategy": "pump",
                                         "price": 1.0 + n, "market_ts": 1.61e9 + n},
                              source="scanner"))
    seq.commit(env)
    return seal_frames(bus.config.state.root, "scanner", [env.topic.encode(), codec.encode(env)])


def feed(bus: ZmqBus, *messages: list[bytes]) -> list:
    bus._sub.queue.extend(messages)
    bus._on_readable()
    return [bus.inbox.get_nowait() for _ in range(bus.inbox.qsize())]


def sent_on(bus: ZmqBus, i: int) -> list[bytes]:
    return [f[0] for f in bus.links.links[i].pub.sent]


def test_each_link_is_ready_only_once_its_own_probe_came_back(dual: ZmqBus):
    """Probes go out per link; HELLO.<epoch>.1 back marks only link 1 ready; events then go to
    link 1 only; link 0's probe back makes both carry them."""
    links = dual.links
    links.probe()
    assert sent_on(dual, 0) == [links.links[0].hello] and sent_on(dual, 1) == [links.links[1].hello]
    feed(dual, [links.links[1].hello, b""])
    assert [lk.ready for lk in links.links] == [False, True] and dual._hello.is_set()
    dual.publish_raw([b"SIGNAL.X", b"body"])
    assert b"SIGNAL.X" not in sent_on(dual, 0) and b"SIGNAL.X" in sent_on(dual, 1)
    feed(dual, [links.links[0].hello, b""])
    dual.publish_raw([b"SIGNAL.Y", b"body"])
    assert b"SIGNAL.Y" in sent_on(dual, 0) and b"SIGNAL.Y" in sent_on(dual, 1)


def test_a_dropped_connection_makes_its_link_wait_for_its_probe_again(dual: ZmqBus):
    """EVENT_DISCONNECTED on link 0's PUB: sends skip it until its probe returns; counted."""
    for lk in dual.links.links:
        feed(dual, [lk.hello, b""])
    dual.links._on_event(zmq.EVENT_DISCONNECTED, b"tcp://10.0.0.1:5601", "pub",
                         dual.links.links[0])
    dual.publish_raw([b"SIGNAL.Z", b"body"])
    assert b"SIGNAL.Z" not in sent_on(dual, 0)
    assert dual.stats()["links"]["disconnects"] == 1
    assert dual.stats()["links"]["proxies_ready"] == 1
    feed(dual, [dual.links.links[0].hello, b""])
    assert dual.stats()["links"]["proxies_ready"] == 2 and "last_recovery_s" in dual.stats()["links"]


def test_handshake_failures_are_counted(dual: ZmqBus):
    """A CURVE/ZMTP handshake failure reported by the monitor shows in the link stats."""
    dual.links._on_event(zmq.EVENT_HANDSHAKE_FAILED_AUTH, b"tcp://10.0.0.2:5601", "sub", None)
    assert dual.stats()["links"]["handshake_failures"] == 1


def test_the_second_proxys_copy_is_dropped_before_decoding(dual: ZmqBus):
    """Every event twice (one per proxy): each delivered once, the copies counted as copies."""
    seq = Sequencer("scanner", "ep-scanner")
    msgs = [frames(dual, seq, n) for n in range(1, 4)]
    got = feed(dual, msgs[0], msgs[0], msgs[1], msgs[2], msgs[1], msgs[2])
    assert [e.seq for e in got] == [1, 2, 3]
    assert dual.counters["copies"] == 3 and dual.counters["duplicates"] == 0


def test_a_hole_waits_for_the_slower_proxy_before_asking_for_a_replay(dual: ZmqBus):
    """seq 1 and 3 via the faster proxy: no REPLAY within duplicate_grace_s; seq 2 arriving via
    the other proxy settles it without any request."""
    seq = Sequencer("scanner", "ep-scanner")
    one, two, three = (frames(dual, seq, n) for n in (1, 2, 3))
    feed(dual, one, three)
    dual._send_due_requests(time.monotonic(), timeout=1.0)
    assert dual.counters["replay_requests"] == 0
    feed(dual, two)
    dual._send_due_requests(time.monotonic() + 60, timeout=1.0)
    assert dual.counters["replay_requests"] == 0 and len(dual._pending) == 0


def test_a_replay_answer_heard_through_both_proxies_reports_a_missing_range_once(dual: ZmqBus):
    """The marker arrives twice; the range it reports missing is counted (a GAP) once."""
    seq = Sequencer("scanner", "ep-scanner")
    one, _, three = (frames(dual, seq, n) for n in (1, 2, 3))
    feed(dual, one, three)
    marker = codec.encode_obj({"publisher": "scanner", "epoch": "ep-scanner", "by": "tseq",
                               "event_type": "SIGNAL", "from": 2, "to": 2, "sent": [],
                               "missing": [[2, 2]]})
    answer = seal_frames(dual.config.state.root, "scanner",
                         [f"REPLAYED.{dual.epoch}".encode(), b"", marker])
    feed(dual, answer, list(answer))
    assert dual.counters["gaps_unrecoverable"] == 1


def test_recent_copies_and_hello_epochs():
    """RecentCopies forgets after two generations; HELLO topics name their epoch either way."""
    copies = RecentCopies(size=2)
    assert not copies.seen(b"a")
    copies.add(b"a")
    assert copies.seen(b"a")
    for body in (b"b", b"c", b"d", b"e"):
        copies.add(body)
    assert not copies.seen(b"a")
    assert hello_epoch(b"HELLO.abc123.1") == "abc123" == hello_epoch(b"HELLO.abc123")
