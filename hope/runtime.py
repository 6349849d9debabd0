"""The dispatcher every process runs: bus, handler loop, middleware, lifecycle, SIGTERM.

A service is a class declared with :mod:`hope.service` (subscriptions, periodic tasks,
``setup/start/stop/kill``); :func:`run_service` builds it from config and runs it. The concerns
around each handler (dedupe and journal, dead letters, RETRY, market clock) are middleware (:mod:`hope.middleware`),
precomputed per topic; the handler timer and the heartbeat are collaborators it calls itself. See
docs/ARCHITECTURE.md, "The service programming model".
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from hope import eager
from hope.bus.base import Bus
from hope.clock import MarketClock, WallClock
from hope.config import Config
from hope.dispatch import Dispatcher, Route
from hope.envelope import Envelope, EventType, new_event
from hope.handler_stats import HandlerStats
from hope.middleware import Middleware, overrides
from hope.middleware.dead_letter import DeadLetters
from hope.middleware.dedupe import Dedupe
from hope.middleware.heartbeat import Heartbeat
from hope.middleware.retry import Retries
from hope.middleware.stats import Handler, HandlerTimer

EX_CONFIG = 78  # sysexits: configuration error; supervisord shows FATAL after its retries
_STOP = object()
_TICK = object()  # wakes an idle handler loop so it can heartbeat
MAX_ROUTES = 50_000


class Entry:
    __slots__ = ("prefix", "name", "fn", "stats", "retry_any_topic", "idempotent")

    def __init__(self, prefix: str, name: str, fn: Handler, stats: HandlerStats,
                 retry_any_topic: bool = False, idempotent: bool = False) -> None:
        self.prefix, self.name, self.fn, self.stats = prefix, name, fn, stats
        self.retry_any_topic, self.idempotent = retry_any_topic, idempotent


async def maybe_await(result: Any) -> Any:
    """Await a coroutine a hook returned; a Task it started keeps running on its own."""
    return await result if inspect.iscoroutine(result) else result


def default_middleware(bus: Bus, *, local_retry: bool = False) -> list[Middleware]:
    """Dedupe, dead letters and RETRY, in that order. ``local_retry``: the service is the
    dead-letter path itself (dlq-retry), so its failures are retried in-process only."""
    return [Dedupe(bus), DeadLetters(local_only=local_retry), Retries()]


class Runtime:
    """Subscribe, publish, periodic tasks and start/stop hooks around one bus; dispatches each
    received event through the middleware to the handlers whose prefix matches its topic."""

    def __init__(self, name: str, config: Config, bus: Bus, clock: WallClock | None = None,
                 middleware: Iterable[Middleware] | None = None) -> None:
        """``middleware``: the chain around every handler (default :func:`default_middleware`);
        services may add more with :meth:`use` (the market clock)."""
        self.name = name
        self.config = config
        self.state = config.state
        self.bus = bus
        self.clock = clock or WallClock()
        self.market_clock = MarketClock()
        self.log = structlog.get_logger(name)
        self.metrics: Counter[str] = Counter()
        self.events_out: Counter[str] = Counter()
        self.heartbeat_extras: list[Callable[[], dict[str, Any]]] = []
        # collaborators the dispatcher and the handler loop call themselves, not middleware
        self.timer = HandlerTimer(config.bus.handler_timeout_s)
        self.beats = Heartbeat(self)
        self.middleware: list[Middleware] = []
        self._handlers: list[Entry] = []
        self._routes: dict[str, Route] = {}
        self.dispatcher = Dispatcher(self.timer, self.metrics, self.log, self._routes, self._route)
        self._latest_prefixes: list[str] = []
        self._periodic: list[tuple[float, Callable[[], Any]]] = []
        self._on_start: list[Callable[[], Any]] = []
        self._on_stop: list[Callable[[], Any]] = []
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        # Events are dispatched inline from the bus reader while the handler loop runs and is
        # idle (see _deliver); a dispatch that has to wait finishes before the next one starts.
        self._eager = False
        self._dispatching = False
        self._loop_holds = False
        self._idle = asyncio.Event()
        self._idle.set()
        chain = default_middleware(bus) if middleware is None else list(middleware)
        self.dead_letters = next((m for m in chain if isinstance(m, DeadLetters)), None)
        self.use(*chain)

    # registration -------------------------------------------------------------------------
    def use(self, *middleware: Middleware) -> None:
        """Add middleware (before the bus starts); hooks run in the order added."""
        for mw in middleware:
            self.middleware.append(mw)
            mw.bind(self)
        self._hooks()

    def _hooks(self) -> None:
        mws = self.middleware
        d = self.dispatcher
        d.skip = next((m.skip for m in mws if overrides(m, "skip")), d.skip)
        d.after = [m.after for m in mws if overrides(m, "after")]
        d.failed = [m.failed for m in mws if overrides(m, "failed")]
        self._retried = [m.retried for m in mws if overrides(m, "retried")]
        self._routes.clear()

    def subscribe(self, prefix: str, handler: Handler, *, name: str | None = None,
                  verify_id: bool = False, retry_any_topic: bool = False,
                  idempotent: bool = False) -> None:
        """Run ``handler`` for events whose topic starts with ``prefix``. ``verify_id``: this
        handler acts on the event (a trade, a stored record), so the bus recomputes its id.
        ``retry_any_topic``: a RETRY may bring it an event outside ``prefix``. ``idempotent``:
        running it again on the same event is harmless (see :meth:`idempotent`)."""
        prefix = "" if prefix == "*" else prefix
        hname = name or getattr(handler, "__qualname__", repr(handler))
        self._handlers.append(Entry(prefix, hname, handler, self.timer.register(hname),
                                    retry_any_topic, idempotent))
        self._routes.clear()
        self.bus.subscribe(prefix)
        if verify_id:
            self.bus.verify_ids(prefix)

    def keep_latest(self, prefix: str, *, in_order: bool = False) -> None:
        """Keep only the newest event per topic under ``prefix`` (:mod:`hope.bus.latest`), read
        with :meth:`latest`; no handler sees them. The newest is also read every heartbeat
        interval, so the market clock (in heartbeats too) follows between requests."""
        if not self._latest_prefixes:
            self.every(self.config.bus.heartbeat_interval_s, self._read_newest)
        self._latest_prefixes.append(prefix)
        self.bus.keep_latest(prefix, in_order=in_order)

    async def latest(self, topic: str) -> Envelope | None:
        """The newest event on a last-value ``topic`` that passes every check of the delivery
        path and then the ``before`` hooks of its route (the market clock's rules), each
        candidate judged once (a refused one raises its ALERT once and is gone); None: nothing
        yet, or nothing passed."""
        settled = self.bus.settled_latest(topic)
        for env in self.bus.latest_candidates(topic):
            if env is settled:
                return env  # judged when it was settled; nothing newer passed
            if await self._passes_hooks(topic, env):
                self.bus.settle_latest(topic, env)
                return env
        return None

    async def _passes_hooks(self, topic: str, env: Envelope) -> bool:
        for hook in (self._routes.get(topic) or self._route(topic)).before:
            pending = hook(env)
            if pending is not None and not await pending:
                return False
        return True

    async def newest(self, prefix: str) -> Envelope | None:
        """:meth:`latest` of the topic under the last-value ``prefix`` that arrived last (or,
        when that one is refused, of the next most recent: a stream of forged frames on a
        made-up topic does not stop the market clock)."""
        for topic in self.bus.newest_topics(prefix):
            env = await self.latest(topic)
            if env is not None:
                return env
        return None

    async def _read_newest(self) -> None:
        for prefix in self._latest_prefixes:
            await self.newest(prefix)

    def every(self, interval_s: float, fn: Callable[[], Any]) -> None:
        self._periodic.append((interval_s, fn))

    def on_start(self, fn: Callable[[], Any]) -> None:
        self._on_start.append(fn)

    def on_stop(self, fn: Callable[[], Any]) -> None:
        self._on_stop.append(fn)

    def has_handler(self, name: str) -> bool:
        return any(e.name == name for e in self._handlers)

    def heartbeat_sources(self) -> list[Callable[[], dict[str, Any]]]:
        return [self.timer.heartbeat,
                *(m.heartbeat for m in self.middleware if overrides(m, "heartbeat")),
                *self.heartbeat_extras]

    @property
    def handler_stats(self) -> dict[str, HandlerStats]:
        return self.timer.stats

    @property
    def events_in(self) -> Counter[str]:
        return self.timer.events_in

    # publishing ---------------------------------------------------------------------------
    async def publish(self, event_type: str | EventType, payload: dict[str, Any], *,
                      parent: Envelope | None = None, correlation_id: str | None = None,
                      timestamp: str | None = None) -> Envelope:
        """Build, validate and publish an event. A fixed ``timestamp`` makes a republish (after
        a crash) carry the same ``event_id``."""
        env = new_event(event_type, payload, source=self.name, parent=parent,
                        correlation_id=correlation_id, timestamp=timestamp)
        return await self.publish_event(env)

    async def publish_event(self, env: Envelope) -> Envelope:
        stamped = await self.bus.publish(env)
        self.events_out[env.event_type] += 1
        return stamped

    # dispatch -----------------------------------------------------------------------------
    def _route(self, topic: str) -> Route:
        if len(self._routes) > MAX_ROUTES:
            self._routes.clear()
        route = self._routes[topic] = Route(
            tuple(m.before for m in self.middleware
                  if overrides(m, "before") and m.wants(topic)),
            tuple(e for e in self._handlers if topic.startswith(e.prefix)))
        return route

    def idempotent(self, topic: str) -> bool:
        """Every handler of ``topic`` declared itself idempotent: its events are journaled as
        coverage once per read batch, and one may be handled again after a crash."""
        return (self._routes.get(topic) or self._route(topic)).idempotent

    async def _dispatch(self, env: Envelope) -> None:
        rest = self.dispatcher.dispatch(env)
        if rest is not None:
            await rest

    async def rerun(self, env: Envelope, handler: str, attempt: int) -> bool:
        """Run the named handler again on ``env`` (a retry): True when it ran and succeeded,
        False when it failed again, had already succeeded, does not take ``env``'s topic, or a
        ``before`` hook of ``env``'s route (the market clock's rules) refused ``env``."""
        entry = next((e for e in self._handlers if e.name == handler), None)
        if entry is None or self.dispatcher.skip(handler, env.event_id):
            return False
        if not (entry.retry_any_topic or env.topic.startswith(entry.prefix)):
            self.metrics["bad_retries"] += 1
            self.log.warning("retry_topic_mismatch", handler=handler, topic=env.topic,
                             prefix=entry.prefix, event_id=env.event_id)
            return False
        route = self._routes.get(env.topic) or self._route(env.topic)
        for hook in route.before:
            pending = hook(env)
            if pending is not None and not await pending:
                self.metrics["retries_refused"] += 1
                return False
        if not await self.dispatcher.run_handler(env, entry, attempt):
            return False
        for retried in self._retried:
            retried(env, handler)
        return True

    # running ------------------------------------------------------------------------------
    def request_stop(self) -> None:
        if not self._stopping:
            self._stopping = True
            self.log.info("stopping", reason="signal")
            self.bus.inbox.put_nowait(_STOP)

    async def run(self) -> None:
        await self.bus.start()
        for fn in self._on_start:
            await maybe_await(fn())
        self._tasks = [asyncio.create_task(self._every(i, fn)) for i, fn in self._periodic]
        self.log.info("started", epoch=self.bus.epoch, pid=os.getpid())
        try:
            await self._handler_loop()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._drain(self.config.bus.handler_timeout_s / 2)
            await self.run_stop_hooks()
            await self.bus.stop()
            self.log.info("stopped")

    async def run_stop_hooks(self) -> None:
        """The ``on_stop`` hooks in order; one that fails is logged, the rest still run."""
        for fn in self._on_stop:
            try:
                await maybe_await(fn())
            except Exception as exc:
                self.log.exception("on_stop_failed", error=str(exc))

    async def _every(self, interval: float, fn: Callable[[], Any]) -> None:
        name = getattr(fn, "__qualname__", repr(fn))
        while True:
            await asyncio.sleep(interval)
            try:
                await maybe_await(fn())
            except Exception as exc:  # a failing periodic task never kills the service
                self.metrics["periodic_errors"] += 1
                self.log.exception("periodic_task_failed", task=name, error=str(exc))

    async def _handler_loop(self) -> None:
        """Heartbeats come from here, between events: a stuck handler stops them (a handler
        that blocks the event loop stops the ticks too)."""
        inbox = self.bus.inbox
        interval = self.config.bus.heartbeat_interval_s
        beats = self.beats
        await beats.beat()
        # An idle loop is woken by ticks instead of a timeout around every wait: one timer
        # per tick period rather than a timer armed and cancelled per event.
        self._tasks.append(asyncio.create_task(self._tick(inbox, interval / 4)))
        self.bus.deliver_to(self._deliver)
        self._eager = True
        while True:
            if beats.due(interval):
                await beats.beat()
            try:
                item = inbox.get_nowait()
            except asyncio.QueueEmpty:
                item = await inbox.get()
            if item is _STOP:
                return
            if item is not _TICK:
                await self._dispatch_next(item)

    def _deliver(self, env: Envelope) -> None:
        """The bus hands over a decoded event: dispatch it now when nothing is queued or
        running before it (order is kept), else queue it for the handler loop."""
        if (not self._eager or self._stopping or self._dispatching or self._loop_holds
                or self.bus.inbox.qsize()):
            self.bus.inbox.put_nowait(env)
            return
        self._dispatching = True
        try:
            rest = self.dispatcher.dispatch(env)
            pending = None if rest is None else eager.start(rest)
        except BaseException:
            self._dispatching = False
            raise
        if pending is None:
            self._dispatching = False
        else:  # a handler waits: nothing else runs until it is done
            self._idle.clear()
            pending.add_done_callback(self._eager_done)

    def _eager_done(self, task: asyncio.Task) -> None:
        self._dispatching = False
        self._idle.set()
        if not task.cancelled() and task.exception() is not None:
            self.log.error("dispatch_failed", error=str(task.exception()))

    async def _dispatch_next(self, env: Envelope) -> None:
        # While the loop holds this event (taken off the inbox), nothing is dispatched eagerly:
        # a later event must not overtake it while it waits for an eager dispatch to finish.
        self._loop_holds = True
        try:
            while self._dispatching:
                await self._idle.wait()
            self._dispatching = True
            try:
                await self._dispatch(env)
            finally:
                self._dispatching = False
        finally:
            self._loop_holds = False

    @staticmethod
    async def _tick(inbox: asyncio.Queue, period_s: float) -> None:
        while True:
            await asyncio.sleep(period_s)
            if inbox.empty():
                inbox.put_nowait(_TICK)

    async def _drain(self, budget_s: float) -> None:
        """Finish what is already queued, within a budget; the rest is recovered after restart."""
        deadline = time.monotonic() + budget_s
        inbox = self.bus.inbox
        try:  # an eager dispatch still waiting finishes before the stop hooks close anything
            await asyncio.wait_for(self._idle.wait(), budget_s)
        except TimeoutError:
            self.log.warning("stopping with a handler still running")
        while not inbox.empty() and time.monotonic() < deadline:
            item = inbox.get_nowait()
            if item is not _STOP and item is not _TICK:
                await self._dispatch_next(item)
