"""Last-value topics: the newest raw frames per topic, checked and decoded only when read.

A service that needs only the latest event of each topic under a prefix (the gateway: the last
PRICE per symbol, and the market clock those move) declares the prefix last-value
(``Service.latest_of``). On the ZeroMQ bus such topics arrive on a SUB of their own that is not
on the event loop: it is drained (:func:`drain`) when a reader asks and by the bus's maintenance
every 50 ms, so a PRICE costs no wake-up (at thousands a second, each wake-up of an idle loop
costs tens of µs of cold work, far more than keeping the frame). A drained frame is not decoded:
the bus keeps it as read (the newest per topic, replacing the one before), notes which topic
arrived last, counts the delivery in ``received_types`` under the prefix's event type, and does
nothing else. A topic some ordinary subscription of the same bus also matches is delivered as
usual instead (and the copy on the last-value SUB dropped). Between drains the SUB's queue holds
at most ~50 ms of frames, far below its high-water mark at any rate the bus can carry.

What the delivery path does per event, and why a last value needs none of it:

- **stream cursor and gap recovery**: a missed or reordered older value is one the newer frame
  replaces anyway, and a replay could only bring back values older than the one kept;
- **consumer journal and dedupe**: no handler runs per event, so nothing can be done twice;
  after a restart the table starts empty, as any in-memory cache does;
- **checks on arrival**: :meth:`LastValues.read` runs on the frames a reader asks for the
  checks the ordinary path runs on arrival, the same code (:class:`hope.bus.arrival.FrameChecks`:
  the codec with the bus's limits and the time of arrival, the topic against the envelope's,
  the event gate's MAC, signer and authority, publisher/epoch/seq where the bus recovers). A refused frame is counted and quarantined as on
  arrival (an ALERT where the gate raises one). Of the frames kept since the last read (up to
  ``CANDIDATES``) and the value that read found, the one with the latest market time wins: an
  older genuine frame arriving late (a second proxy's copy, a restarted publisher's resend, a
  replayed capture) never replaces a newer value, and a forged frame does not hide the genuine
  one before it. Nothing that passed: None, no value rather than one nobody proved.

Topics are attacker-influenced: the table is bounded in topics and bytes and emptied when
either bound is reached (what a reader then finds missing is missing, not made up). Meant for
non-ephemeral event types (PRICE): they carry the seq the rule above compares.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import zmq

from hope.bus.arrival import FrameChecks, shape_refusal, where_of
from hope.envelope import Envelope

DRAIN_MAX = 100_000  # frames per drain of a last-value SUB: bounds one drain's time
MAX_TOPICS = 50_000
MAX_TOPIC_BYTES = 256
CANDIDATES = 4      # frames kept per topic between two reads of it (the newest valid one wins)
RECENT_TOPICS = 8   # topics remembered per prefix, latest arrival last (the market clock's read)
MAX_BYTES = 64 << 20  # frames kept (every part), all topics together
Kept = tuple[list[bytes], float]  # the frames as received, the wall time of their arrival


class LastValues:
    """The newest frames per topic under the declared prefixes; read on demand."""

    def __init__(self, checks: FrameChecks, ordinary: Callable[[bytes], bool],
                 received: dict[str, int]) -> None:
        """``ordinary``: does an ordinary subscription match a topic (then it is not kept);
        ``received``: the bus's deliveries per event type, counted here too."""
        self.checks = checks
        self.prefixes: list[bytes] = []
        self._ordinary = ordinary
        self._received = received
        self._kind: dict[bytes, tuple[bytes, str] | None] = {}  # topic -> (prefix, type)
        self.frames: dict[bytes, list[Kept]] = {}     # topic -> frames since its last read
        self._value: dict[bytes, Envelope] = {}       # topic -> the newest event admitted
        self._recent: dict[bytes, deque[bytes]] = {}  # prefix -> topics, the latest arrival last
        self._bytes = 0

    def add(self, prefix: str) -> None:
        """Keep the newest frame per topic starting with ``prefix`` (before the bus starts)."""
        self.prefixes.append(prefix.encode())
        self._kind.clear()

    def _classify(self, topic: bytes) -> tuple[bytes, str] | None:
        if len(self._kind) >= MAX_TOPICS:
            self._kind.clear()
        kind = None
        for p in self.prefixes:
            if topic.startswith(p) and not self._ordinary(topic):
                # counted under the declared prefix's type: a made-up topic adds no counter
                kind = (p, p.decode().split(".", 1)[0])
                break
        self._kind[topic] = kind
        return kind

    def keep(self, frames: list[bytes]) -> bool:
        """Keep ``frames`` ([topic, body, auth?]) if their topic is last-value: True when kept
        (the bus is done with them), False for the ordinary path."""
        topic = frames[0]
        kind = self._kind.get(topic, False)
        if kind is False:
            if len(topic) > MAX_TOPIC_BYTES:  # no real topic is that long: refused unclassified
                self.checks.bad(frames, f"topic of {len(topic)} bytes (at most "
                                f"{MAX_TOPIC_BYTES})", where_of(topic))
                return True
            kind = self._classify(topic)
        if kind is None:
            return False
        prefix, etype = kind
        self._received[etype] = self._received.get(etype, 0) + 1
        pending = self.frames.get(topic)
        if pending is not None and any(k[0] == frames for k in pending):
            return True  # the same message again (through a second proxy)
        size = _size(frames)
        if self._bytes + size > MAX_BYTES or (pending is None and len(self.frames) >= MAX_TOPICS):
            self.forget()
            pending = None
        if pending is None:
            pending = self.frames[topic] = []
        pending.append((frames, time.time()))
        self._bytes += size
        if len(pending) > CANDIDATES:
            self._bytes -= _size(pending.pop(0)[0])
        recent = self._recent.get(prefix)
        if recent is None:
            recent = self._recent[prefix] = deque(maxlen=RECENT_TOPICS)
        if not recent or recent[-1] != topic:
            if topic in recent:
                recent.remove(topic)
            recent.append(topic)
        return True

    def forget(self) -> None:
        """Drop every kept frame and every value read of them."""
        self.frames.clear()
        self._value.clear()
        self._recent.clear()
        self._bytes = 0

    def candidates(self, topic: str) -> list[Envelope]:
        """The events that may be ``topic``'s value, the latest market time (then envelope
        time, then seq) first: the frames kept since the last read that pass every check of
        the delivery path (each checked once: they leave the table), and the value settled
        before. The reader settles the first it accepts (:meth:`settle`): so an older genuine
        frame arriving late (a second proxy's copy, a restarted publisher's resend, a replayed
        capture) never replaces a newer value, and a refused frame does not hide the value
        before it."""
        key = topic.encode()
        out = [] if (value := self._value.get(key)) is None else [value]
        for frames, at in self.frames.pop(key, None) or ():
            self._bytes -= _size(frames)
            env = self.checks.read(frames, at)
            if env is not None:
                out.append(env)
        out.sort(key=_order, reverse=True)
        return out

    def settled(self, topic: str) -> Envelope | None:
        """``topic``'s value as last settled."""
        return self._value.get(topic.encode())

    def settle(self, topic: str, env: Envelope) -> None:
        """``env`` is ``topic``'s value until a later one is settled."""
        key = topic.encode()
        if key not in self._value and len(self._value) >= MAX_TOPICS:
            self._value.clear()
        self._value[key] = env

    def read(self, topic: str) -> Envelope | None:
        """The first of :meth:`candidates`, settled: the value for a reader with no rules of
        its own. None: nothing kept, or nothing passed."""
        found = self.candidates(topic)
        if found:
            self.settle(topic, found[0])
        return found[0] if found else None

    def newest_topics(self, prefix: str) -> list[str]:
        """Topics under the declared ``prefix``, the one whose frame arrived last first."""
        return [t.decode(errors="replace") for t in reversed(self._recent.get(prefix.encode(), ()))]


def _size(frames: list[bytes]) -> int:
    return sum(len(f) for f in frames)


def _order(env: Envelope) -> tuple[float, str, int]:
    ts = env.payload.get("market_ts")
    market = float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else 0.0
    return market, env.timestamp, env.seq


def drain(sub: zmq.Socket, table: LastValues, limit: int = DRAIN_MAX) -> int:
    """Read what ``sub`` (a SUB of last-value topics only, not on the event loop) holds into
    ``table``: the frames read. A frame of another shape than [topic, body, auth?] is
    refused as the ordinary path refuses it (counted, quarantined)."""
    recv, n = sub.recv_multipart, 0
    while n < limit:
        try:
            frames = recv(zmq.NOBLOCK)
        except zmq.ZMQError:  # Again: empty; or closed under us while stopping
            break
        n += 1
        why = shape_refusal(frames)
        if why is None:
            table.keep(frames)
        else:
            table.checks.bad(frames, why, where_of(frames[0]))
    return n
