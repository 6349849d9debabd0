"""The bus interface both transports implement (ZeroMQ for processes, in-process for tests)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import msgspec

from hope.envelope import Envelope

if TYPE_CHECKING:
    from hope.bus.cursor import Cursors
    from hope.bus.latest import LastValues


class DeliveryJournal(Protocol):
    """What a subscriber's bus records about delivery, restored at start. The default is the
    consumer journal (:class:`hope.bus.consumed.ConsumerJournal`); a service whose own store is
    its journal supplies another through ``Service.journal()`` (the audit writer's log)."""

    def open(self) -> None:
        """Restore the cursors (given to the factory) and what was done; before delivery."""

    def close(self) -> None: ...

    def is_done(self, handler: str, event_id: str) -> bool: ...

    def mark_done(self, event_id: str, handlers: list[str]) -> None: ...

    def consumed(self, publisher: str, epoch: str, event_type: str, n: int, event_id: str,
                 handlers: list[str]) -> None:
        """The runtime finished an event (``n``: its seq or tseq as the cursors count)."""

    def settled(self, publisher: str, epoch: str, event_type: str, n: int) -> None:
        """The runtime finished an idempotent event (every handler on its route may run on it
        again): record its number as coverage at the next :meth:`flush`, keep no id."""

    def flush(self) -> None:
        """Write what :meth:`settled` gathered (when a read batch ends)."""

    def covered(self, publisher: str, epoch: str, kind: str, first: int, last: int) -> None:
        """A replay answer settled a range of a stream."""

    def missing(self, publisher: str, epoch: str, first: int, last: int) -> None:
        """Events no outbox could replay (seq-mode subscribers): lost for good."""


JournalFactory = Callable[["Cursors"], DeliveryJournal]


class BusError(RuntimeError):
    pass


class Sequencer:
    """Stamps delivery fields: ``seq`` per publisher and epoch, ``tseq`` per event type too;
    ephemeral events get 0 (they are never replayed)."""

    def __init__(self, publisher: str, epoch: str) -> None:
        self.publisher = publisher
        self.epoch = epoch
        self.seq = 0
        self.tseq: dict[str, int] = {}

    def stamp(self, env: Envelope) -> Envelope:
        """The next stamped event; nothing is used up until :meth:`commit` (a publish the
        outbox refused, e.g. disk full, must not burn a seq and leave a hole)."""
        if env.ephemeral:
            return msgspec.structs.replace(env, publisher=self.publisher, epoch=self.epoch)
        return msgspec.structs.replace(env, publisher=self.publisher, epoch=self.epoch,
                                       seq=self.seq + 1,
                                       tseq=self.tseq.get(env.event_type, 0) + 1)

    def commit(self, stamped: Envelope) -> None:
        if stamped.seq:
            self.seq = stamped.seq
            self.tseq[stamped.event_type] = stamped.tseq

    def highs(self) -> dict:
        """What heartbeats announce so subscribers can spot a lost tail."""
        return {"epoch": self.epoch, "seq": self.seq, "tseq": dict(self.tseq)}


class Bus(ABC):
    """Publish stamped events; deliver subscribed ones, in order, into ``inbox``."""

    name: str
    epoch: str
    inbox: asyncio.Queue[Envelope]
    latest: LastValues | None = None

    @abstractmethod
    def subscribe(self, prefix: str) -> None:
        """Deliver events whose topic starts with ``prefix`` ("" = everything). Before start()."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def publish(self, env: Envelope) -> Envelope:
        """Stamp delivery fields, persist to the outbox (non-ephemeral), send; return stamped."""

    def deliver_to(self, fn: Callable[[Envelope], None]) -> None:
        """Hand each received event to ``fn`` as it is decoded instead of queueing it in
        ``inbox``. Only the ZeroMQ bus does; the in-process bus keeps queueing, so unit tests
        step through events one at a time."""

    def use_journal(self, factory: JournalFactory) -> None:
        """Build the delivery journal with ``factory`` instead of the default (before start).
        The in-process bus keeps its in-memory dedupe."""

    def verify_ids(self, prefix: str) -> None:
        """Recompute the event id of every received event whose topic starts with ``prefix``
        ("" = all) and reject mismatches; other events get every check but that one."""

    def space_reads(self, gap_s: float) -> None:
        """Take received frames at most once per ``gap_s``, all queued at once (where the bus
        has frames to queue; in process every delivery is immediate)."""

    def keep_latest(self, prefix: str, *, in_order: bool = False) -> None:
        """Keep only the newest frame per topic starting with ``prefix``, checked and decoded
        when read (:mod:`hope.bus.latest`); no delivery. ``in_order``: taken in order with the
        bus's other frames (else, where the bus can, apart and without waking it). Before
        start()."""
        raise NotImplementedError(f"{type(self).__name__} has no last-value topics")

    def read_latest(self, topic: str) -> Envelope | None:
        """The newest event kept on a last-value ``topic``; None: none, or it was refused."""
        return None if self.latest is None else self.latest.read(topic)

    def latest_candidates(self, topic: str) -> list[Envelope]:
        """What may be a last-value ``topic``'s value, best first (:meth:`LastValues.candidates`);
        the reader settles the one it accepts with :meth:`settle_latest`."""
        return [] if self.latest is None else self.latest.candidates(topic)

    def settle_latest(self, topic: str, env: Envelope) -> None:
        if self.latest is not None:
            self.latest.settle(topic, env)

    def settled_latest(self, topic: str) -> Envelope | None:
        """The value last settled on a last-value ``topic`` (None: none, or forgotten)."""
        return None if self.latest is None else self.latest.settled(topic)

    def newest_topics(self, prefix: str) -> list[str]:
        """Topics under the last-value ``prefix``, the one whose frame arrived last first."""
        return [] if self.latest is None else self.latest.newest_topics(prefix)

    def consumed(self, env: Envelope, handlers: list[str], idempotent: bool = False) -> None:
        """The runtime finished ``env`` (``handlers`` succeeded); journal it where supported.
        ``idempotent``: every handler of its route may run on it again, so only its number is
        recorded (as coverage, at the next :meth:`flush_journal`), not its id."""

    def flush_journal(self) -> None:
        """Write the coverage of idempotent events gathered since the last flush."""

    def is_done(self, handler: str, event_id: str) -> bool:
        return False

    def mark_done(self, event_id: str, handlers: list[str]) -> None:
        """Remember a handler finished ``event_id`` outside normal delivery (a retry)."""

    def stats(self) -> dict:
        return {}

    @abstractmethod
    async def stop(self) -> None: ...

    def kill(self) -> None:
        """Release everything at once; never raises."""
