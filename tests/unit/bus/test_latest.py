"""Last-value topics on the ZeroMQ bus (their own SUB, drained, with fake sockets): kept raw, replaced,
read on demand with every check of the delivery path, refusals counted and quarantined."""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq

from hope import codec
from hope.bus import latest
from hope.bus.base import Sequencer
from hope.bus.cursor import Cursors
from hope.bus.zmq import ZmqBus
from hope.envelope import new_event
from hope.testing import make_config, seal_frames
from tests.helpers import FakePub

T0 = 1_610_226_000.0




class FakeSub:
    """The last-value SUB: frames queued by the test, then Again, as a drained socket says."""

    def __init__(self) -> None:
        self.queue: list[list[bytes]] = []

    def recv_multipart(self, flags: int = 0) -> list[bytes]:
        if not self.queue:
            raise zmq.Again()
        return self.queue.pop(0)


def arrive(bus: ZmqBus, frames: list[bytes]) -> None:
    """``frames`` reach the bus's last-value SUB and are drained into its table."""
    bus._latest_sub.queue.append(frames)
    bus.drain_latest()


@pytest.fixture
def bus(state_dir: Path) -> ZmqBus:
    """A gateway-like bus: SIGNAL delivered as usual, PRICE last-value, fake PUB for ALERTs."""
    bus = ZmqBus("gateway", make_config(state_dir), outbox=False)
    bus.subscribe("SIGNAL")
    bus.keep_latest("PRICE")
    bus.cursors = Cursors(track_all=False)
    bus._latest_sub = FakeSub()
    bus.fake_pub = FakePub()
    bus.links.links[0].pub = bus.fake_pub
    bus.links._retarget()
    bus._started = True
    return bus


class Feed:
    """PRICE frames as the market-data publisher ``scanner`` sends them (sealed)."""

    def __init__(self, state_dir: Path, name: str = "scanner", epoch: str = "ep-scanner") -> None:
        self.state_dir, self.name = state_dir, name
        self.sequencer = Sequencer(name, epoch)

    def price(self, p: float, ts: float, symbol: str = "EVXBTC", *, key: str | None = None
              ) -> list[bytes]:
        env = new_event("PRICE", {"symbol": symbol, "price": p, "market_ts": ts},
                        source=self.name)
        stamped = self.sequencer.stamp(env)
        self.sequencer.commit(stamped)
        return seal_frames(self.state_dir, key or self.name,
                           [stamped.topic.encode(), codec.encode(stamped)])


def test_kept_frames_replace_older_ones_and_are_counted_not_delivered(bus: ZmqBus):
    """Two PRICEs of a symbol and one of another: the newest per topic is read, nothing reaches
    the inbox or the cursors, every frame counts as a PRICE delivery, the newest topic is known."""
    feed = Feed(bus.config.state.root)
    first, second, other = feed.price(1.0, T0), feed.price(2.0, T0 + 1), feed.price(5.0, T0, "XBTC")
    for frames in (first, second, other):
        arrive(bus, frames)
    assert bus.inbox.empty() and bus.cursors.lows() == {}
    assert bus.received_types == {"PRICE": 3} and bus.counters["received"] == 0
    env = bus.read_latest("PRICE.EVXBTC")
    assert env.payload["price"] == 2.0 and bus.read_latest("PRICE.EVXBTC") is env  # memoised
    assert bus.newest_topics("PRICE")[0] == "PRICE.XBTC" and bus.read_latest("PRICE.NONE") is None
    arrive(bus, second)  # the same message again (a second proxy's copy): counted only
    assert bus.received_types["PRICE"] == 4 and bus.read_latest("PRICE.EVXBTC") is env
    arrive(bus, first)  # a genuine older frame sent again does not replace the newer one
    assert bus.read_latest("PRICE.EVXBTC") is env
    assert bus.counters["decode_errors"] == 0 and not bus.refusals


def test_a_topic_an_ordinary_subscription_matches_is_delivered(state_dir: Path):
    """A bus that also subscribes to everything gets PRICE delivered as usual, not kept."""
    bus = ZmqBus("audit-like", make_config(state_dir), outbox=False, recover=False)
    bus.subscribe("")
    bus.keep_latest("PRICE")
    bus._on_frames(Feed(state_dir).price(1.0, T0))
    assert bus.inbox.get_nowait().payload["price"] == 1.0
    assert bus.read_latest("PRICE.EVXBTC") is None


@pytest.mark.parametrize("forge, reason", [
    (lambda f: f[:2], "auth_missing"),
    (lambda f: [*f[:2], bytes(len(f[2]))], "auth_malformed"),
    ("tampered", "auth_bad_mac"),
    ("impostor", "auth_impostor"),
    ("gateway", "auth_no_authority"),
])
def test_unauthenticated_kept_frame_is_refused_counted_quarantined_and_reads_none(
        bus: ZmqBus, forge, reason):
    """No auth frame, a zeroed auth frame, a body its MAC is not for, another principal's key,
    a principal without authority for PRICE: the read refuses it as delivery would (counted,
    quarantined, an ALERT) and gives None; it is judged once; a newer genuine frame reads."""
    root = bus.config.state.root
    if forge == "impostor":
        frames = Feed(root).price(1.0, T0, key="executor")
    elif forge == "tampered":
        feed = Feed(root)
        genuine = feed.price(1.0, T0)
        frames = [*feed.price(9.0, T0)[:2], genuine[2]]
    elif forge == "gateway":
        frames = Feed(root, "gateway").price(1.0, T0)
    else:
        frames = forge(Feed(root).price(1.0, T0))
    arrive(bus, frames)
    assert bus.quarantine.count == 0 and not bus.refusals  # nothing checked on arrival
    assert bus.read_latest("PRICE.EVXBTC") is None
    assert bus.read_latest("PRICE.EVXBTC") is None
    (refused,) = bus.refusals
    assert refused == reason and bus.refusals[refused] == 1 and bus.quarantine.count == 1
    (alert,) = bus.fake_pub.alerts()
    assert alert["kind"] == "auth_refused" and alert["reason"] == refused
    arrive(bus, Feed(root, epoch="ep-2").price(2.0, T0 + 1))
    assert bus.read_latest("PRICE.EVXBTC").payload["price"] == 2.0


def test_malformed_kept_frames_are_refused_as_bad_frames(bus: ZmqBus):
    """Garbage, a topic that lies about its body, a body too old for the bus: each read gives
    None and counts a decode error with its frames quarantined."""
    good = Feed(bus.config.state.root).price(1.0, T0)
    arrive(bus, [b"PRICE.A", b"\xc1\xc1 not msgpack", good[2]])
    arrive(bus, [b"PRICE.B", *good[1:]])
    assert bus.read_latest("PRICE.A") is None and bus.read_latest("PRICE.B") is None
    assert bus.counters["decode_errors"] == 2 and bus.quarantine.count == 2
    assert set(bus.refusals) == {"decode_malformed", "decode_invalid"}
    arrive(bus, good)
    kept = bus.latest.frames[b"PRICE.EVXBTC"][-1]
    bus.latest.frames[b"PRICE.EVXBTC"] = [(kept[0], kept[1] + 8 * 86400)]  # read as if late
    assert bus.read_latest("PRICE.EVXBTC") is None
    assert bus.refusals["decode_bad_timestamp"] == 1


def test_the_table_is_bounded(bus: ZmqBus, monkeypatch: pytest.MonkeyPatch):
    """Past the topic bound the table is emptied before the next topic is kept."""
    monkeypatch.setattr(latest, "MAX_TOPICS", 3)
    feed = Feed(bus.config.state.root)
    for symbol in ("AB", "BB", "CB", "DB"):
        arrive(bus, feed.price(1.0, T0, symbol))
    assert list(bus.latest.frames) == [b"PRICE.DB"] and bus.newest_topics("PRICE") == ["PRICE.DB"]
    assert bus.read_latest("PRICE.AB") is None and bus.read_latest("PRICE.DB") is not None


def test_a_frame_of_another_shape_on_the_last_value_sub_is_refused(bus: ZmqBus):
    """Four frames where [topic, body, auth] belong: counted and quarantined as a bad frame,
    not kept; the drain goes on to the next frame."""
    good = Feed(bus.config.state.root).price(1.0, T0)
    bus._latest_sub.queue.append([*good, b"extra"])
    arrive(bus, good)
    assert bus.counters["decode_errors"] == 1 and bus.quarantine.count == 1
    assert bus.read_latest("PRICE.EVXBTC").payload["price"] == 1.0


def test_in_order_last_value_frames_are_kept_from_the_ordinary_sub(state_dir: Path):
    """``in_order``: a PRICE read off the ordinary SUB is kept raw in its place among the other
    frames (nothing decoded, delivered or tracked) and reads back with every check."""
    bus = ZmqBus("decision-engine", make_config(state_dir), outbox=False)
    bus.subscribe("SIGNAL")
    bus.keep_latest("PRICE", in_order=True)
    bus.cursors = Cursors(track_all=False)
    bus._on_frames(Feed(state_dir).price(3.0, T0))
    assert bus.inbox.empty() and bus.counters["received"] == 0 and bus.cursors.lows() == {}
    assert bus.received_types == {"PRICE": 1} and bus._latest_sub is None
    assert bus.read_latest("PRICE.EVXBTC").payload["price"] == 3.0


def test_an_older_genuine_frame_arriving_late_never_replaces_a_newer_one(bus: ZmqBus):
    """Seq 9 and 10 through one proxy, then 9 again through a second (and a resend of 8 under
    a new epoch) before any read: the read gives 10; read again after them, still 10."""
    feed = Feed(bus.config.state.root)
    p8, p9, p10 = (feed.price(float(n), T0 + n) for n in (8, 9, 10))
    for frames in (p9, p10, p9):
        arrive(bus, frames)
    assert bus.read_latest("PRICE.EVXBTC").payload["price"] == 10.0
    resent = Feed(bus.config.state.root, epoch="ep-after-restart").price(8.0, T0 + 8)
    arrive(bus, resent)
    arrive(bus, p8)
    assert bus.read_latest("PRICE.EVXBTC").payload["price"] == 10.0
    assert not bus.refusals


def test_a_refused_frame_does_not_hide_the_genuine_one_before_it(bus: ZmqBus):
    """A genuine PRICE then a tampered one (a newer market time, a MAC that does not match):
    the read refuses the tampered frame and gives the genuine one."""
    feed = Feed(bus.config.state.root)
    genuine = feed.price(1.0, T0)
    tampered = [*feed.price(9.0, T0 + 5)[:2], genuine[2]]
    arrive(bus, genuine)
    arrive(bus, tampered)
    assert bus.read_latest("PRICE.EVXBTC").payload["price"] == 1.0
    assert bus.refusals["auth_bad_mac"] == 1


def test_topics_past_the_length_bound_are_refused_and_recent_topics_listed_newest_first(
        bus: ZmqBus):
    """A 300-byte topic is refused unkept; the topics of a prefix come back latest arrival
    first (what the market clock's read walks when the newest is refused)."""
    good = Feed(bus.config.state.root).price(1.0, T0)
    arrive(bus, [b"PRICE." + b"X" * 300, *good[1:]])
    assert bus.counters["decode_errors"] == 1 and not bus.latest.frames
    feed = Feed(bus.config.state.root)
    for symbol in ("AB", "CD", "AB"):
        arrive(bus, feed.price(1.0, T0, symbol))
    assert bus.newest_topics("PRICE") == ["PRICE.AB", "PRICE.CD"]
