"""One event through its route: the ``before`` hooks, each handler through the timer, then the
``after`` hooks, synchronously for as long as nothing has to be awaited.

Most deliveries meet only plain calls: ``before`` hooks that answer None and handlers that finish
without waiting (a coroutine handler that never waits finishes inside :func:`hope.eager.start`).
Those are dispatched in the caller's stack, with no coroutine of the dispatcher's own. The first
thing that must be awaited (a ``before`` hook's answer, a handler still running, the ``failed``
middleware after a handler raised) turns the rest of the dispatch into a coroutine that goes on
exactly where the synchronous part stopped: the same hooks, in the same order, the same stats.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from hope.envelope import Envelope
from hope.handler_stats import HandlerStats
from hope.middleware.stats import Handler, HandlerTimer

Rest = Coroutine[Any, Any, None]  # what is left of a dispatch that has to wait


class Entry(Protocol):
    """A subscribed handler, as the dispatcher sees it (:class:`hope.runtime.Entry`)."""

    name: str
    fn: Handler
    stats: HandlerStats
    idempotent: bool


class Route:
    """What one topic's events go through, computed once per topic. ``idempotent``: every
    handler may run again on the same event, so the journal keeps coverage, not ids."""

    __slots__ = ("before", "handlers", "idempotent")

    def __init__(self, before: tuple[Callable[[Envelope], Any], ...],
                 handlers: tuple[Entry, ...]) -> None:
        self.before, self.handlers = before, handlers
        self.idempotent = all(e.idempotent for e in handlers)


def _never(handler: str, event_id: str) -> bool:
    return False


class Dispatcher:
    """The runtime's dispatch of one event; its middleware hooks are set by the runtime."""

    def __init__(self, timer: HandlerTimer, metrics: Counter[str], log: Any,
                 routes: dict[str, Route], build_route: Callable[[str], Route]) -> None:
        """``routes``: the runtime's routes by topic; ``build_route`` adds a topic's."""
        self.timer, self.metrics, self.log = timer, metrics, log
        self.routes, self.build_route = routes, build_route
        self.skip: Callable[[str, str], bool] = _never
        self.after: list[Callable[[Envelope, list[str]], None]] = []
        self.failed: list[Callable[..., Awaitable[None]]] = []

    def dispatch(self, env: Envelope) -> Rest | None:
        """Run ``env`` through its topic's route: None when it is done, else the coroutine
        finishing it. Counts it in ``events_in``."""
        self.timer.events_in[env.event_type] += 1
        topic = env.topic
        route = self.routes.get(topic) or self.build_route(topic)
        for i, hook in enumerate(route.before):
            pending = hook(env)
            if pending is not None:
                return self._before_then(env, route, i, pending)
        return self._handle(env, route, 0, [])

    async def _before_then(self, env: Envelope, route: Route, i: int,
                           pending: Awaitable[bool]) -> None:
        """The rest of the dispatch once ``route.before[i]`` answered with an awaitable."""
        if not await pending:  # refused: journaled, not handled
            self._finish(env, [])
            return
        for hook in route.before[i + 1:]:
            pending = hook(env)
            if pending is not None and not await pending:
                self._finish(env, [])
                return
        rest = self._handle(env, route, 0, [])
        if rest is not None:
            await rest

    def _handle(self, env: Envelope, route: Route, start: int, done: list[str]) -> Rest | None:
        """The handlers from ``route.handlers[start]`` on, then the ``after`` hooks."""
        skip, call = self.skip, self.timer.call
        for i, entry in enumerate(route.handlers[start:], start):
            if skip(entry.name, env.event_id):
                self.metrics["duplicates_skipped"] += 1
                continue
            outcome = call(entry.fn, entry.stats, env)
            if outcome is not None:
                return self._handler_then(env, route, i, done, outcome)
            done.append(entry.name)
        for after in self.after:
            after(env, done)
        return None

    async def _handler_then(self, env: Envelope, route: Route, i: int, done: list[str],
                            outcome: Exception | Awaitable[Exception | None]) -> None:
        """The rest of the dispatch once handler ``i`` raised or is still running."""
        entry = route.handlers[i]
        exc = outcome if isinstance(outcome, Exception) else await outcome
        if exc is None:
            done.append(entry.name)
        else:
            await self.report_failure(env, entry, exc, 1)
        rest = self._handle(env, route, i + 1, done)
        if rest is not None:
            await rest

    def _finish(self, env: Envelope, done: list[str]) -> None:
        for after in self.after:
            after(env, done)

    async def run_handler(self, env: Envelope, entry: Entry, attempt: int) -> bool:
        """Run one handler through the timer; a failure goes to the ``failed`` middleware."""
        exc = await self.timer.invoke(entry.fn, entry.stats, env)
        if exc is None:
            return True
        await self.report_failure(env, entry, exc, attempt)
        return False

    async def report_failure(self, env: Envelope, entry: Entry, exc: Exception,
                             attempt: int) -> None:
        """Log a handler's failure and hand it to the ``failed`` middleware (dead letters)."""
        error = self.timer.describe(exc)
        self.log.warning("handler_failed", handler=entry.name, event_id=env.event_id,
                         event_type=env.event_type, error=error, attempt=attempt)
        for failed in self.failed:
            await failed(env, entry.name, exc, error, attempt)
