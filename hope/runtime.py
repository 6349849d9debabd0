"""The one service runner: config, logs, bus, handler loop, heartbeats, dead letters, SIGTERM.

A service is ``setup(svc)`` registering handlers and periodic tasks on a :class:`Service`;
``run_service(name, setup)`` is the whole entry module. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog

from hope import __version__, eager
from hope.bus.base import Bus
from hope.clock import MarketClock, WallClock
from hope.config import Config, ConfigError, load
from hope.envelope import Envelope, EventType, new_event
from hope.handler_stats import HandlerStats
from hope.logs import configure_logging

Handler = Callable[[Envelope], Awaitable[None] | None]
Setup = Callable[["Service"], Awaitable[None] | None]
EX_CONFIG = 78  # sysexits: configuration error; supervisord shows FATAL after its retries
_STOP = object()
_TICK = object()  # wakes an idle handler loop so it can heartbeat
MAX_LOCAL_RETRIES = 10_000


class _LocalRetry:
    __slots__ = ("env", "handler", "attempt", "at")

    def __init__(self, env: Envelope, handler: str, attempt: int, at: float) -> None:
        self.env, self.handler, self.attempt, self.at = env, handler, attempt, at


async def _maybe_await(result: Any) -> Any:
    """Await a coroutine a hook returned; a Task it started keeps running on its own."""
    return await result if inspect.iscoroutine(result) else result


class Service:
    """What a service's ``setup`` sees: subscribe, publish, periodic tasks, start/stop hooks."""

    def __init__(self, name: str, config: Config, bus: Bus, clock: WallClock | None = None) -> None:
        self.name = name
        self.config = config
        self.state = config.state
        self.bus = bus
        self.clock = clock or WallClock()
        self.market_clock = MarketClock()
        self.log = structlog.get_logger(name)
        self.metrics: Counter[str] = Counter()
        self.heartbeat_extras: list[Callable[[], dict[str, Any]]] = []
        self.handler_stats: dict[str, HandlerStats] = {}
        self.events_in: Counter[str] = Counter()
        self.events_out: Counter[str] = Counter()
        self._handlers: list[tuple[str, str, Handler]] = []
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
        # Failures whose dead letter could not be published (disk full), and every failure of a
        # service that *is* the dead-letter path (local_retry): re-run here with backoff.
        self.local_retry = False
        self._retry_later: list[_LocalRetry] = []
        self._started = time.monotonic()
        self._last_beat = 0.0
        bus.subscribe(f"RETRY.{name}")

    # registration (in setup) ------------------------------------------------------------
    def subscribe(self, prefix: str, handler: Handler, *, name: str | None = None,
                  verify_id: bool = False) -> None:
        """Run ``handler`` for events whose topic starts with ``prefix``. ``verify_id``: this
        handler acts on the event (a trade, a stored record), so the bus recomputes its id."""
        prefix = "" if prefix == "*" else prefix
        hname = name or getattr(handler, "__qualname__", repr(handler))
        self._handlers.append((prefix, hname, handler))
        self.handler_stats[hname] = HandlerStats()
        self.bus.subscribe(prefix)
        if verify_id:
            self.bus.verify_ids(prefix)

    def every(self, interval_s: float, fn: Callable[[], Any]) -> None:
        self._periodic.append((interval_s, fn))

    def on_start(self, fn: Callable[[], Any]) -> None:
        self._on_start.append(fn)

    def on_stop(self, fn: Callable[[], Any]) -> None:
        self._on_stop.append(fn)

    # publishing ---------------------------------------------------------------------------
    async def publish(self, event_type: str | EventType, payload: dict[str, Any], *,
                      parent: Envelope | None = None,
                      correlation_id: str | None = None) -> Envelope:
        env = new_event(event_type, payload, source=self.name, parent=parent,
                        correlation_id=correlation_id)
        return await self.publish_event(env)

    async def publish_event(self, env: Envelope) -> Envelope:
        stamped = await self.bus.publish(env)
        self.events_out[env.event_type] += 1
        return stamped

    # running ------------------------------------------------------------------------------
    def request_stop(self) -> None:
        if not self._stopping:
            self._stopping = True
            self.log.info("stopping", reason="signal")
            self.bus.inbox.put_nowait(_STOP)

    async def run(self) -> None:
        await self.bus.start()
        for fn in self._on_start:
            await _maybe_await(fn())
        self._tasks = [asyncio.create_task(self._every(i, fn)) for i, fn in self._periodic]
        self._tasks.append(asyncio.create_task(self._every(0.5, self._run_local_retries)))
        self.log.info("started", epoch=self.bus.epoch, pid=os.getpid())
        try:
            await self._handler_loop()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._drain(self.config.bus.handler_timeout_s / 2)
            for fn in self._on_stop:
                try:
                    await _maybe_await(fn())
                except Exception as exc:
                    self.log.exception("on_stop_failed", error=str(exc))
            await self.bus.stop()
            self.log.info("stopped")

    async def _every(self, interval: float, fn: Callable[[], Any]) -> None:
        name = getattr(fn, "__qualname__", repr(fn))
        while True:
            await asyncio.sleep(interval)
            try:
                await _maybe_await(fn())
            except Exception as exc:  # a failing periodic task never kills the service
                self.metrics["periodic_errors"] += 1
                self.log.exception("periodic_task_failed", task=name, error=str(exc))

    async def _handler_loop(self) -> None:
        """Heartbeats come from here, between events: a stuck handler stops them (a handler
        that blocks the event loop stops the ticks too)."""
        inbox = self.bus.inbox
        interval = self.config.bus.heartbeat_interval_s
        await self._heartbeat()
        # An idle loop is woken by ticks instead of a timeout around every wait: one timer
        # per tick period rather than a timer armed and cancelled per event.
        self._tasks.append(asyncio.create_task(self._tick(inbox, interval / 4)))
        self.bus.deliver_to(self._deliver)
        self._eager = True
        while True:
            if time.monotonic() - self._last_beat >= interval:
                await self._heartbeat()
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
            pending = eager.start(self._dispatch(env))
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

    async def _dispatch(self, env: Envelope) -> None:
        self.events_in[env.event_type] += 1
        if env.event_type in (EventType.PRICE, EventType.SIGNAL):
            ts = env.payload.get("market_ts")
            if isinstance(ts, int | float):
                self.market_clock.observe(ts)
        if env.event_type == EventType.RETRY and env.topic == f"RETRY.{self.name}":
            await self._on_retry(env)
            self.bus.consumed(env, ["retry"])
            return
        done: list[str] = []
        topic = env.topic
        for prefix, hname, fn in self._handlers:
            if not topic.startswith(prefix):
                continue
            if self.bus.is_done(hname, env.event_id):
                self.metrics["duplicates_skipped"] += 1
                continue
            if await self._run_handler(env, hname, fn, attempt=1):
                done.append(hname)
        self.bus.consumed(env, done)

    async def _run_handler(self, env: Envelope, hname: str, fn: Handler, attempt: int) -> bool:
        t0 = time.perf_counter()
        try:
            result = fn(env)
            if inspect.iscoroutine(result):
                # Run at once; only a handler that really waits gets a Task and the timeout.
                result = eager.start(result)
            if result is not None and inspect.isawaitable(result):
                await asyncio.wait_for(result, self.config.bus.handler_timeout_s)
        except Exception as exc:
            self.handler_stats[hname].observe(time.perf_counter() - t0, ok=False)
            error = (f"handler timed out after {self.config.bus.handler_timeout_s:g}s"
                     if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}")
            self.log.warning("handler_failed", handler=hname, event_id=env.event_id,
                             event_type=env.event_type, error=error, attempt=attempt)
            await self._dead_letter(env, hname, exc, error, attempt)
            return False
        self.handler_stats[hname].observe(time.perf_counter() - t0, ok=True)
        return True

    async def _dead_letter(self, env: Envelope, hname: str, exc: BaseException, error: str,
                           attempt: int) -> None:
        payload = {"service": self.name, "handler": hname, "error": error[:2000],
                   "error_type": type(exc).__name__, "attempt": attempt, "topic": env.topic,
                   "event": env.to_dict()}
        if not self.local_retry:
            try:
                await self.publish(EventType.DEAD_LETTER, payload, parent=env)
                return
            except Exception as pub_exc:  # even the dead-letter path must not kill the loop
                self.log.error("dead_letter_publish_failed", error=str(pub_exc),
                               event_id=env.event_id)
        self._keep_for_local_retry(env, hname, attempt)

    def _keep_for_local_retry(self, env: Envelope, hname: str, attempt: int) -> None:
        if len(self._retry_later) >= MAX_LOCAL_RETRIES:
            self.metrics["local_retry_dropped"] += 1
            self.log.critical("local_retry_full", event_id=env.event_id, handler=hname,
                              kept=len(self._retry_later))
            return
        delay = min(0.5 * 2 ** min(attempt - 1, 6), 30.0)
        self._retry_later.append(_LocalRetry(env, hname, attempt + 1,
                                             time.monotonic() + delay))
        self.metrics["local_retries_pending"] = len(self._retry_later)

    async def _run_local_retries(self) -> None:
        now = time.monotonic()
        due = [r for r in self._retry_later if r.at <= now]
        for item in due:
            self._retry_later.remove(item)
            fn = next((f for _, n, f in self._handlers if n == item.handler), None)
            if fn is None or self.bus.is_done(item.handler, item.env.event_id):
                continue
            if await self._run_handler(item.env, item.handler, fn, attempt=item.attempt):
                self.bus.mark_done(item.env.event_id, [item.handler])
        self.metrics["local_retries_pending"] = len(self._retry_later)

    async def _on_retry(self, retry: Envelope) -> None:
        p = retry.payload
        try:
            original = msgspec.convert(p["event"], Envelope)
            hname, attempt = p["handler"], int(p.get("attempt", 2))
        except (KeyError, TypeError, ValueError, msgspec.ValidationError) as exc:
            self.log.warning("bad_retry_event", event_id=retry.event_id, error=str(exc))
            return
        matches = [(n, fn) for _, n, fn in self._handlers if n == hname]
        if not matches:
            self.log.warning("retry_for_unknown_handler", handler=hname)
            return
        if self.bus.is_done(hname, original.event_id):
            return
        if await self._run_handler(original, hname, matches[0][1], attempt=attempt):
            self.bus.mark_done(original.event_id, [hname])
            self.log.info("retry_succeeded", handler=hname, event_id=original.event_id,
                          attempt=attempt)
            # Tell the retry daemon at once instead of letting it wait out its silence window.
            await self.publish(EventType.CONTROL, {"service": "dlq-retry", "command": "retry_ok",
                                                   "dlq_id": str(p.get("dlq_id", ""))},
                               parent=retry)

    async def _heartbeat(self) -> None:
        self._last_beat = time.monotonic()
        stats = self.bus.stats()
        payload: dict[str, Any] = {
            "service": self.name, "pid": os.getpid(), "host": socket.gethostname(),
            "version": __version__, "epoch": self.bus.epoch,
            "uptime_s": round(self._last_beat - self._started, 3),
            "handled": sum(s.count for s in self.handler_stats.values()),
            "failed": sum(s.errors for s in self.handler_stats.values()),
            "queue_depth": self.bus.inbox.qsize(),
            "events_in": dict(self.events_in), "events_out": dict(self.events_out),
            "handlers": {n: s.as_dict() for n, s in self.handler_stats.items()},
            "metrics": dict(self.metrics), "bus": stats, "pub": stats.get("pub"),
        }
        for extra in self.heartbeat_extras:
            try:
                payload.update(extra())
            except Exception as exc:
                self.log.warning("heartbeat_extra_failed", error=str(exc))
        try:
            await self.bus.publish(new_event(EventType.HEARTBEAT, payload, source=self.name))
        except Exception as exc:
            self.log.error("heartbeat_publish_failed", error=str(exc))


# --- process entry ------------------------------------------------------------------------

def parse_service_args(name: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"hope-{name}")
    parser.add_argument("--config", help="config file (default: $HOPE_CONFIG or ./hope.toml)")
    parser.add_argument("--state-dir", help="state directory (default: $HOPE_STATE_DIR or ./state)")
    return parser.parse_args(argv)


def load_or_exit(name: str, args: argparse.Namespace) -> Config:
    """Load the config; a bad one refuses to start, naming the file and key (exit 78)."""
    try:
        config = load(args.config, args.state_dir)
        config.state.ensure()
        return config
    except (ConfigError, OSError) as exc:
        print(f"hope {name}: refusing to start: bad config: {exc}", file=sys.stderr)
        sys.exit(EX_CONFIG)


def run_service(name: str, setup: Setup, argv: list[str] | None = None, *,
                bus_options: dict[str, Any] | None = None) -> None:
    """Entry point of every service process."""
    from hope.bus.zmq import ZmqBus

    config = load_or_exit(name, parse_service_args(name, argv))
    configure_logging(name, config.hope.log_level)

    async def main() -> None:
        svc = Service(name, config, ZmqBus(name, config, **(bus_options or {})))
        await _maybe_await(setup(svc))
        # Latency: move everything set-up allocated out of the collector's sight, and collect the
        # young generation less often (the hot path allocates short-lived dicts by the thousand).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, svc.request_stop)
        await svc.run()

    try:
        asyncio.run(main())
    except ConfigError as exc:
        print(f"hope {name}: refusing to start: bad config: {exc}", file=sys.stderr)
        sys.exit(EX_CONFIG)
