"""The in-process bus: the same interface as the ZeroMQ bus, for unit tests of service logic.

Every event goes through the codec as on the wire: encoded once at publish, decoded and validated
per subscriber with the ZeroMQ bus's checks (size limit, timestamp window, the event id where
:meth:`InProcessBus.verify_ids` asks for it), so each subscriber gets its own ``Envelope`` and a
service unit test exercises what a real delivery would. A refused event is counted
(``decode_errors``) and kept in ``rejected``, not delivered, as the ZeroMQ bus quarantines it.
Last-value prefixes (:meth:`InProcessBus.keep_latest`) keep the newest frame per topic, read
with the same checks, as on the ZeroMQ bus (:mod:`hope.bus.latest`).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import structlog

from hope import codec
from hope.bus.arrival import FrameChecks
from hope.bus.base import Bus, Sequencer
from hope.bus.latest import LastValues
from hope.config import BusConfig
from hope.envelope import Envelope

log = structlog.get_logger("hope.bus")


class LocalBroker:
    """Connects in-process buses: every publish is delivered to every matching subscriber."""

    def __init__(self, limits: BusConfig | None = None) -> None:
        self.limits = limits or BusConfig()
        self.buses: list[InProcessBus] = []
        self.published: list[Envelope] = []

    def bus(self, name: str) -> InProcessBus:
        return InProcessBus(name, self)


class InProcessBus(Bus):
    def __init__(self, name: str, broker: LocalBroker | None = None) -> None:
        self.name = name
        self.epoch = uuid.uuid4().hex[:12]
        self.broker = broker or LocalBroker()
        self.inbox: asyncio.Queue[Envelope] = asyncio.Queue()
        self.prefixes: list[str] = []
        self.verify_prefixes: list[str] = []
        self.sequencer = Sequencer(name, self.epoch)
        self.done: dict[str, set[str]] = {}
        self.decode_errors = 0
        self.rejected: list[tuple[str, str]] = []  # (topic, reason) of every refused event
        self.received_types: dict[str, int] = {}     # kept last-value frames per type
        # the ZeroMQ bus's checks on arrival (hope/bus/arrival.py), without authentication
        self.checks = FrameChecks(self.broker.limits, self._refused,
                                  lambda topic: self._verifies(topic.decode()))

    def subscribe(self, prefix: str) -> None:
        self.prefixes.append("" if prefix == "*" else prefix)

    def verify_ids(self, prefix: str) -> None:
        self.verify_prefixes.append("" if prefix == "*" else prefix)

    def keep_latest(self, prefix: str, *, in_order: bool = False) -> None:
        # in process every frame is taken in publish order: ``in_order`` changes nothing
        if self.latest is None:
            self.latest = LastValues(self.checks, self._wants, self.received_types)
        self.latest.add(prefix)

    def _wants(self, topic: bytes) -> bool:
        return any(topic.decode().startswith(p) for p in self.prefixes)

    def _verifies(self, topic: str) -> bool:
        return any(topic.startswith(p) for p in self.verify_prefixes)

    async def start(self) -> None:
        self.broker.buses.append(self)

    async def publish(self, env: Envelope) -> Envelope:
        stamped = self.sequencer.stamp(env)
        body = codec.encode(stamped)
        self.sequencer.commit(stamped)
        self.broker.published.append(stamped)
        topic = stamped.topic
        frames = [topic.encode(), body]
        for bus in list(self.broker.buses):
            if bus.latest is not None and bus.latest.keep(frames):
                continue
            if any(topic.startswith(p) for p in bus.prefixes):
                bus.receive(frames)
        return stamped

    def receive(self, frames: list[bytes]) -> None:
        """Check ``frames`` ([topic, body]) as the ZeroMQ bus does, then queue the event in
        ``inbox``."""
        env = self.checks.read(frames, time.time())
        if env is not None:
            self.inbox.put_nowait(env)

    def _refused(self, frames: list[bytes], reason: str, where: str) -> None:
        topic = frames[0].decode(errors="replace")
        reason = f"{reason} ({where})" if where else reason
        self.decode_errors += 1
        self.rejected.append((topic, reason))
        log.warning("bad_frame_rejected", service=self.name, reason=reason, topic=topic)

    def consumed(self, env: Envelope, handlers: list[str], idempotent: bool = False) -> None:
        """Dedupe in memory, as the consumer journal: an idempotent event's id is not kept
        (there is no file, so nothing to flush)."""
        if not idempotent:
            self.mark_done(env.event_id, handlers)

    def is_done(self, handler: str, event_id: str) -> bool:
        names = self.done.get(event_id, set())
        return handler in names or "*" in names

    def mark_done(self, event_id: str, handlers: list[str]) -> None:
        self.done.setdefault(event_id, set()).update(handlers)

    def stats(self) -> dict:
        return {"pub": self.sequencer.highs(), "decode_errors": self.decode_errors}

    async def stop(self) -> None:
        if self in self.broker.buses:
            self.broker.buses.remove(self)

    def kill(self) -> None:
        if self in self.broker.buses:
            self.broker.buses.remove(self)
