"""Consumer journal and dedupe: a handler runs at most once per event, also across restarts.

The journal itself lives with the bus (it restores the bus's stream cursors at start, so a
restarted service asks for exactly what it missed); this middleware asks it before each handler
(``skip``) and tells it what finished (``after``, ``retried``): an event whose handlers all
declared themselves idempotent (``@subscribe(..., idempotent=True)``) by its number only, as
coverage written once per read batch; any other by its id, at once (hope/bus/consumed.py).

The one hook for a service whose own store is its journal (the audit writer): the service class
returns a :data:`hope.bus.base.JournalFactory` from ``Service.journal()``; the bus then builds
that journal instead of the default consumer journal, with the same calls (see
:class:`hope.bus.base.DeliveryJournal`).
"""

from __future__ import annotations

from collections.abc import Callable

from hope.bus.base import Bus
from hope.envelope import Envelope
from hope.middleware import Middleware, Runtime


class Dedupe(Middleware):
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._idempotent: Callable[[str], bool] = lambda topic: False

    @property
    def skip(self) -> Callable[[str, str], bool]:  # type: ignore[override]
        """The ``skip`` hook is the bus's own ``is_done(handler, event_id)``: the dispatcher
        takes it once (``Runtime.use``), so the hot path makes no wrapper call."""
        return self.bus.is_done

    def bind(self, runtime: Runtime) -> None:
        runtime.metrics.setdefault("duplicates_skipped", 0)
        self._idempotent = runtime.idempotent

    def after(self, env: Envelope, done: list[str]) -> None:
        self.bus.consumed(env, done, self._idempotent(env.topic))

    def retried(self, env: Envelope, handler: str) -> None:
        self.bus.mark_done(env.event_id, [handler])
