"""Consumer journal and dedupe: a handler runs at most once per event, also across restarts.

The journal itself lives with the bus (it restores the bus's stream cursors at start, so a
restarted service asks for exactly what it missed); this middleware asks it before each handler
(``skip``) and tells it what finished (``after``, ``retried``).

The one hook for a service whose own store is its journal (the audit writer): the service class
returns a :data:`hope.bus.base.JournalFactory` from ``Service.journal()``; the bus then builds
that journal instead of the default consumer journal, with the same calls (see
:class:`hope.bus.base.DeliveryJournal`).
"""

from __future__ import annotations

from hope.bus.base import Bus
from hope.envelope import Envelope
from hope.middleware import Middleware, Runtime


class Dedupe(Middleware):
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        # the bus's own methods, bound once: no wrapper call per handler and event
        self.skip = bus.is_done  # type: ignore[method-assign]

    def skip(self, handler: str, event_id: str) -> bool:
        return self.bus.is_done(handler, event_id)

    def bind(self, runtime: Runtime) -> None:
        runtime.metrics.setdefault("duplicates_skipped", 0)

    def after(self, env: Envelope, done: list[str]) -> None:
        self.bus.consumed(env, done)

    def retried(self, env: Envelope, handler: str) -> None:
        self.bus.mark_done(env.event_id, [handler])
