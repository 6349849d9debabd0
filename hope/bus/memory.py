"""The in-process bus: the same interface as the ZeroMQ bus, for unit tests of service logic."""

from __future__ import annotations

import asyncio
import uuid

from hope.bus.base import Bus, Sequencer
from hope.envelope import Envelope


class LocalBroker:
    """Connects in-process buses: every publish is delivered to every matching subscriber."""

    def __init__(self) -> None:
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
        self.sequencer = Sequencer(name, self.epoch)
        self.done: dict[str, set[str]] = {}

    def subscribe(self, prefix: str) -> None:
        self.prefixes.append("" if prefix == "*" else prefix)

    async def start(self) -> None:
        self.broker.buses.append(self)

    async def publish(self, env: Envelope) -> Envelope:
        stamped = self.sequencer.stamp(env)
        self.sequencer.commit(stamped)
        self.broker.published.append(stamped)
        topic = stamped.topic
        for bus in self.broker.buses:
            if any(topic.startswith(p) for p in bus.prefixes):
                bus.inbox.put_nowait(stamped)
        return stamped

    def consumed(self, env: Envelope, handlers: list[str]) -> None:
        self.mark_done(env.event_id, handlers)

    def is_done(self, handler: str, event_id: str) -> bool:
        names = self.done.get(event_id, set())
        return handler in names or "*" in names

    def mark_done(self, event_id: str, handlers: list[str]) -> None:
        self.done.setdefault(event_id, set()).update(handlers)

    def stats(self) -> dict:
        return {"pub": self.sequencer.highs()}

    async def stop(self) -> None:
        if self in self.broker.buses:
            self.broker.buses.remove(self)

    def kill(self) -> None:
        if self in self.broker.buses:
            self.broker.buses.remove(self)
