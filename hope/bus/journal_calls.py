"""The consumer-journal calls of :class:`hope.bus.zmq.ZmqBus` (a mixin, as
:class:`hope.bus.recovery.GapRecovery`): what the runtime's handlers finished, written through the
bus's ``journal`` (:class:`hope.bus.consumed.ConsumerJournal` or the service's own), using
``cursors``, ``counters`` and ``name``."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from hope.envelope import Envelope

log = structlog.get_logger("hope.bus")


class JournalCalls:
    def consumed(self, env: Envelope, handlers: list[str]) -> None:
        if self.journal and env.publisher and env.seq:
            n = env.seq if self.cursors.track_all else env.tseq
            self._journal(self.journal.consumed, env.publisher, env.epoch, env.event_type, n,
                          env.event_id, handlers)

    def is_done(self, handler: str, event_id: str) -> bool:
        return bool(self.journal) and self.journal.is_done(handler, event_id)

    def mark_done(self, event_id: str, handlers: list[str]) -> None:
        if self.journal:
            self._journal(self.journal.mark_done, event_id, handlers)

    def _journal(self, write: Callable[..., None], *args: object) -> None:
        """A journal write that fails (disk full) is loud but not fatal: the event stays
        handled in memory; after a restart it would only be offered again (and deduped by the
        outbox causation check where it published anything)."""
        try:
            write(*args)
        except OSError as exc:
            self.counters["journal_errors"] += 1
            if self.counters["journal_errors"] <= 10 or self.counters["journal_errors"] % 1000 == 0:
                log.critical("journal_write_failed", service=self.name, error=str(exc),
                             count=self.counters["journal_errors"])
