"""The ZeroMQ bus: a PUB and a SUB connected to the proxy, with outbox, dedupe and gap recovery.

Wire: ``[topic, body, auth]`` (``auth``: the signer's MAC vector over the body,
hope/eventauth/seal.py; ``[topic, body]`` only with ``[bus] authenticate = false``). Internal
frames: ``[HELLO.<epoch>, b""]`` handshake probes and ``[REPLAYED.<epoch>, topic, body, auth]``
replay answers, ended by ``[REPLAYED.<epoch>, b"", marker, auth]``.
See docs/ARCHITECTURE.md ("Delivery") for the protocol.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable

import structlog
import zmq

from hope import codec
from hope.bus.arrival import FrameChecks
from hope.bus.base import Bus, BusError, DeliveryJournal, JournalFactory, Sequencer
from hope.bus.consumed import ConsumerJournal, JournalAccess
from hope.bus.cursor import Cursors, RecentCopies
from hope.bus.links import ProxyLinks, hello_epoch
from hope.bus.outbox import Outbox, Record, restore_causations
from hope.bus.reader import SubReader
from hope.bus.recovery import GapRecovery
from hope.bus.recovery_protocol import PendingReplays, ReplayGuard
from hope.bus.refusals import count_refusal, refusal_name
from hope.bus.sockets import open_sub
from hope.bus.subscriptions import Subscriptions
from hope.config import Config
from hope.envelope import Envelope, EventType
from hope.eventauth.gate import EventGate
from hope.eventauth.keys import EventKeyError
from hope.quarantine import Quarantine

log = structlog.get_logger("hope.bus")


# handshake probes, replay answers and audit-log queries (hope/audit/remote.py): not events
_INTERNAL = (b"HELLO.", b"REPLAYED.", b"AUDITQ", b"AUDITA.")
_CONTROL_TYPES = frozenset({EventType.REPLAY.value, EventType.WATERMARK.value,
                            EventType.HEARTBEAT.value})


class ZmqBus(SubReader, Subscriptions, JournalAccess, GapRecovery, Bus):
    def __init__(self, name: str, config: Config, *, recover: bool = True,
                 journal: bool = True, outbox: bool = True,
                 on_bad_frame: Callable[[str], None] | None = None,
                 handshake_timeout_s: float | None = None, principal: str | None = None) -> None:
        self.name = name
        self.principal = principal or name  # whose CURVE key the sockets use on tcp
        self.config = config
        self.epoch = uuid.uuid4().hex[:12]
        self.recover = recover
        self.on_bad_frame = on_bad_frame
        self.handshake_timeout_s = handshake_timeout_s or config.bus.handshake_timeout_s
        # A service whose own store is its journal (the audit writer) supplies it: use_journal.
        self._journal_factory: JournalFactory = ConsumerJournal.for_service(config.state, name)
        self.inbox: asyncio.Queue[Envelope] = asyncio.Queue()
        self._deliver: Callable[[Envelope], None] = self.inbox.put_nowait
        self.init_reader()
        self.init_subscriptions()
        self.cursors: Cursors | None = None
        self.journal: DeliveryJournal | None = None
        self._want_journal = journal
        box_dir = config.state.outbox / name
        self.outbox = Outbox(box_dir, self.epoch, config.bus.outbox_segment_events,
                             quarantine_dir=config.state.quarantine) if outbox else None
        self.quarantine = Quarantine(config.state.quarantine, name, config.bus.quarantine_max_bytes)
        self.sequencer = Sequencer(name, self.epoch)
        try:  # None: [bus] authenticate = false (the bench's baseline)
            self.gate: EventGate | None = EventGate.for_bus(name, config)
        except EventKeyError as exc:
            raise BusError(f"{name}: {exc}") from None
        # what every frame taken off the SUB passes (hope/bus/arrival.py)
        self.checks = FrameChecks(config.bus, self._bad, lambda t: self._topic_rules(t)[1],
                                  self.gate, self._unauthentic, need_seq=recover)
        self.counters: dict[str, int] = {"published": 0, "received": 0, "duplicates": 0,
                                         "decode_errors": 0, "replay_requests": 0,
                                         "replayed_in": 0, "replayed_out": 0,
                                         "gaps_unrecoverable": 0, "publish_refused": 0,
                                         "resent": 0, "journal_errors": 0,
                                         "bad_replay_requests": 0, "replay_truncated": 0,
                                         "copies": 0}
        # refused input per reason (hope_refusals_total on /metrics)
        self.refusals: Counter[str] = Counter()
        self.links = ProxyLinks(name, config, self.epoch, self.principal)
        several = len(self.links.links) > 1
        # with several proxies each frame arrives once per proxy: copies dropped before decoding
        self._copies = RecentCopies() if several else None
        self._grace_s = config.bus.duplicate_grace_s if several else 0.0
        self.received_types: dict[str, int] = {}  # read off the socket per type: deliveries
        self._pending = PendingReplays()
        self.replay_guard = ReplayGuard(config.bus.replay_rate_per_s, config.bus.replay_burst,
                                        config.bus.replay_alive_s)
        self._tasks: list[asyncio.Task] = []
        self._hello = asyncio.Event()
        self._hello_topic = f"HELLO.{self.epoch}".encode()
        self._replayed_topic = f"REPLAYED.{self.epoch}".encode()
        self._replay_req_topic = f"REPLAY.{name}".encode()
        self._ctx: zmq.Context | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sub: zmq.Socket | None = None
        self._started = False
        self._hooks: dict[bytes, Callable[[list[bytes]], None]] = {}

    # wiring ----------------------------------------------------------------------------
    def deliver_to(self, fn: Callable[[Envelope], None]) -> None:
        self._deliver = fn

    def use_journal(self, factory: JournalFactory) -> None:
        self._journal_factory = factory

    def add_internal(self, prefix: bytes, fn: Callable[[list[bytes]], None]) -> None:
        """Hand internal frames whose topic starts with ``prefix`` (one of the internal
        topics) to ``fn`` (called before start: the prefix is subscribed)."""
        self._hooks[prefix] = fn

    # lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.reset_reader()
        self.cursors = Cursors(track_all=b"" in self.prefixes)
        if self._want_journal and self.recover:
            self.journal = self._journal_factory(self.cursors)
            self.journal.open()
        if self.outbox:
            self.outbox.open()
        if self.journal and self.outbox:
            restore_causations(self.outbox, self.journal)
        self._ctx = zmq.Context()
        topics = set(self.prefixes) | {self._hello_topic, self._replayed_topic,
                                       self._replay_req_topic, b"WATERMARK", *self._hooks,
                                       *self._latest_in_order}
        if self.recover or self.outbox:  # tails to check; epochs alive to answer replays to
            topics.add(b"HEARTBEAT")
        if self.outbox:
            topics.add(b"HELLO.")
        sub = self._sub = open_sub(self._ctx, self.config, topics, self.principal,
                                   connect_now=False)
        self._loop = asyncio.get_running_loop()
        self.links.open(self._loop, sub)
        self._started = True
        self._loop.add_reader(sub.FD, self._on_readable)
        if self._latest_apart:  # not on the loop: drained when read and by maintenance
            self._latest_sub = open_sub(self._ctx, self.config, self._latest_apart,
                                        self.principal)
        self._loop.call_soon(self._on_readable)  # anything queued before the reader existed
        await self._handshake(self.handshake_timeout_s)
        if self.outbox:  # earlier epochs' events the audit writer has not acknowledged
            self._resend_unacked()
        self._tasks.append(asyncio.create_task(self._maintenance(), name=f"{self.name}-bus-maint"))

    async def _handshake(self, timeout: float) -> None:
        """Probe our own HELLO topic through each proxy until one comes back: from then on
        every subscription that existed when we connected is known to that PUB (slow joiner
        solved). The other proxies' links get ready as their probes return (maintenance)."""
        deadline = time.monotonic() + timeout
        while not self._hello.is_set():
            if time.monotonic() > deadline:
                raise BusError(f"{self.name}: no answer from any bus proxy within {timeout:g}s "
                               f"(publishing / subscribed at {self.links.describe()}); is it "
                               f"running?")
            self.links.probe()
            try:
                await asyncio.wait_for(self._hello.wait(), 0.02)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._close(linger=2000)

    def kill(self) -> None:
        try:
            for task in self._tasks:
                task.cancel()
            self._close(linger=0)
        except Exception:  # kill never raises
            pass

    def _close(self, linger: int) -> None:
        self.reset_reader()
        if self._loop is not None and self._sub is not None:
            try:
                self._loop.remove_reader(self._sub.FD)
            except (RuntimeError, ValueError, zmq.ZMQError):  # loop closed, socket gone
                pass
            self._loop = None
        self.links.close(linger)
        self._started = False
        for sock in (self._sub, self._latest_sub):
            if sock is not None:
                sock.close(linger=0)
        self._sub = self._latest_sub = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None
        if self.outbox:
            self.outbox.close()
        if self.journal:
            self.journal.close()

    # publishing ------------------------------------------------------------------------
    async def publish(self, env: Envelope) -> Envelope:
        return self.publish_nowait(env)

    def publish_nowait(self, env: Envelope) -> Envelope:
        if not self._started:
            raise BusError(f"{self.name}: bus is not started")
        stamped = self.sequencer.stamp(env)
        topic = stamped.topic.encode()
        body = codec.encode(stamped)
        if self.outbox and not stamped.ephemeral:
            try:
                self.outbox.append(Record(stamped.seq, stamped.tseq, stamped.event_type, topic,
                                          body, time.monotonic()))
            except OSError as exc:  # disk full: refuse loudly; the seq is not used up
                self.counters["publish_refused"] += 1
                log.critical("outbox_write_failed", service=self.name, error=str(exc),
                             event_type=stamped.event_type)
                raise BusError(f"{self.name}: outbox write failed, event not published "
                               f"({exc})") from exc
        self.sequencer.commit(stamped)
        self.links.send(topic, body, None if self.gate is None else self.gate.seal(body))
        self.counters["published"] += 1
        return stamped

    def publish_raw(self, frames: list[bytes]) -> None:
        """Send frames as they are (tests of bad input, benchmarks)."""
        self.links.send_multipart(frames)

    def sealed(self, frames: list[bytes]) -> list[bytes]:
        """``frames`` with this principal's auth frame over the last one (the body) appended,
        as everything this bus sends carries it (unless ``authenticate = false``)."""
        return frames if self.gate is None else [*frames, self.gate.seal(frames[-1])]

    def stats(self) -> dict:
        out = dict(self.counters)
        out["pub"] = self.sequencer.highs()
        out["outbox_pending"] = self.outbox.pending() if self.outbox else 0
        out["replay_pending"] = len(self._pending)
        out["cursors"] = self.cursors.lows() if self.cursors else {}
        out["quarantined"] = self.quarantine.count
        out["refusals"], out["received_types"] = dict(self.refusals), dict(self.received_types)
        out["links"] = self.links.stats()
        out["authenticated"] = self.gate is not None
        return out

    # receiving -------------------------------------------------------------------------
    def refuse(self, reason: str, message: str, **detail: object) -> None:
        count_refusal(self.refusals, self.name, reason, message, **detail)

    def _bad(self, frames: list[bytes], reason: str, where: str) -> None:
        self.counters["decode_errors"] += 1
        self.refusals[refusal_name(reason)] += 1
        self.quarantine.keep(frames, reason, where)
        n = self.counters["decode_errors"]
        if n <= 20 or n % 1000 == 0:
            log.warning("bad_frame_rejected", service=self.name, reason=reason, where=where,
                        count=n, quarantine=str(self.quarantine.path))
        if self.on_bad_frame:
            self.on_bad_frame(reason)

    def _on_frames(self, frames: list[bytes], replayed: bool = False) -> None:
        """One message off the SUB. The ordinary case (an in-order event) runs inline here;
        internal frames, refusals, control events and gaps go to helpers."""
        topic = frames[0]
        if topic.startswith(_INTERNAL) and self._on_internal(frames, replayed):
            return
        if not replayed and 2 <= len(frames) <= 3:
            if self._latest_in_order and self.latest.keep(frames):
                return  # a last-value topic: kept raw, checked when read (hope/bus/latest.py)
            # with several proxies the second copy is dropped before decoding, so neither the
            # decoder nor the authentication gate's replay rule ever sees it
            if self._copies is not None and self._copies.seen(frames[1]):
                self.counters["copies"] += 1
                return
        wanted, verify_id = self._topic_rules(topic)
        env = self.checks.read(frames, time.time(), verify_id)
        if env is None:
            return
        if self._copies is not None and not replayed:
            self._copies.add(frames[1])
        self.counters["received"] += 1
        etype = env.event_type
        self.received_types[etype] = self.received_types.get(etype, 0) + 1
        if etype in _CONTROL_TYPES:
            self._on_control(env, topic)
        if wanted and (not self.recover or env.ephemeral or self._in_sequence(env)):
            self._deliver(env)

    def _in_sequence(self, env: Envelope) -> bool:
        """Track a recovered stream's number (the checks on arrival made sure it has one):
        False for a duplicate; the holes below a new number are asked for (REPLAY)."""
        cursors = self.cursors
        key = cursors.key(env.publisher, env.epoch, env.event_type)
        is_new, holes = cursors.observe(key, cursors.number(env.seq, env.tseq))
        if not is_new:
            self.counters["duplicates"] += 1
            return False
        if holes:
            self._want_holes(key, holes)
        return True

    def _on_internal(self, frames: list[bytes], replayed: bool) -> bool:
        """HELLO probes and REPLAYED answers; False when the frame is to be read as an event (a
        replayed answer's inner frames)."""
        topic = frames[0]
        for prefix, hook in self._hooks.items():
            if topic.startswith(prefix):
                hook(frames)
                return True
        if topic.startswith(self.links.hello_prefix):
            self.links.on_hello(topic)
            self._hello.set()
            return True
        if topic.startswith(b"HELLO."):
            if self.outbox:  # a bus starting: its epoch may ask for replays
                self.replay_guard.heard(hello_epoch(topic), time.monotonic())
            return True
        if replayed:
            return False
        if topic != self._replayed_topic:
            return True  # another bus's replay answer
        if len(frames) in (3, 4) and frames[1] == b"":
            self._on_replay_marker(frames[2:])
        elif len(frames) in (3, 4):
            self.counters["replayed_in"] += 1
            self._on_frames(frames[1:], replayed=True)
        else:
            self._bad(frames, f"replay answer has {len(frames)} frames, expected 4", "frames")
        return True
