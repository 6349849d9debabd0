"""Declared services: a class says what it subscribes to, what runs periodically, and its
lifecycle; :func:`run_service` builds it from config and runs it on a :class:`Runtime`.

```python
class Notary(Service):
    name = "notary"
    market_clock_from = "PRICE"          # ask for the market-clock middleware
    latest_of = ("PRICE",)               # newest PRICE per topic only: await runtime.latest(t)

    def __init__(self, runtime: Runtime, *, book: Book) -> None:
        super().__init__(runtime)
        self.book = book                 # collaborators are injected ...

    @classmethod
    def create(cls, runtime: Runtime, *, book: Book | None = None) -> Notary:
        return cls(runtime, book=book or Book(runtime.state.root / "book"))  # ... or built

    @subscribe("SIGNAL", verify_id=True)
    async def on_signal(self, env: Envelope) -> None:
        await self.publish("NOTE", {"signal": env.event_id}, parent=env)

    @every(lambda self: self.config.notary.flush_s)
    def flush(self) -> None:
        self.book.flush()
```

Lifecycle, as nameko's extensions: ``setup()`` before the bus starts, ``start()`` after its
handshake (what it publishes is not lost), ``stop()`` on SIGTERM after in-flight work finished,
``kill()`` when the process dies abnormally: it releases what it can and never raises.
Tests build a service with fakes: ``await hope.testing.service_for_tests(Notary, tmp_path,
book=FakeBook())``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from hope.bus.base import JournalFactory
from hope.config import Config, ConfigError, load
from hope.envelope import Envelope, EventType
from hope.logs import configure_logging
from hope.middleware.market_clock import MarketTime
from hope.runtime import EX_CONFIG, Runtime, default_middleware, maybe_await

S = TypeVar("S", bound="Service")
Prefixes = str | Callable[[Any], Iterable[str]]
Interval = float | Callable[[Any], float]


@dataclass(frozen=True)
class _Subscription:
    prefix: Prefixes
    name: str | None
    verify_id: bool
    retry_any_topic: bool = False
    idempotent: bool = False


def subscribe(prefix: Prefixes, *, name: str | None = None, verify_id: bool = False,
              retry_any_topic: bool = False, idempotent: bool = False
              ) -> Callable[[Callable], Callable]:
    """Declare a handler method for topics starting with ``prefix`` (or each prefix a callable
    of the service returns). ``verify_id``: the handler acts on the event, so its id is
    recomputed on receipt. ``name`` (default: the method's) keys dedupe and dead letters.
    ``retry_any_topic``: a RETRY may bring this handler an event of any topic (a handler that
    runs only on RETRY, under a prefix nothing publishes); otherwise it must match ``prefix``.
    ``idempotent``: running the handler again on the same event is harmless (say why in its
    docstring); an event whose handlers all are is journaled by coverage once per read batch,
    no id kept, and may be handled again after a crash (hope/bus/consumed.py).
    A subclass that overrides the method without the decorator drops the subscription."""
    def mark(fn: Callable) -> Callable:
        fn.__dict__.setdefault("_hope_subscriptions", []).append(
            _Subscription(prefix, name, verify_id, retry_any_topic, idempotent))
        return fn
    return mark


def every(interval_s: Interval) -> Callable[[Callable], Callable]:
    """Declare a periodic method; ``interval_s`` seconds or a callable of the service (a
    result of 0 leaves the task out)."""
    def mark(fn: Callable) -> Callable:
        fn.__dict__.setdefault("_hope_every", []).append(interval_s)
        return fn
    return mark


class Service:
    """Base of every declared service: the runtime's context, publish, and no-op lifecycle."""

    name: ClassVar[str] = ""
    market_clock_from: ClassVar[str | None] = None  # "PRICE" | "HEARTBEAT": market-clock mw
    latest_of: ClassVar[tuple[str, ...]] = ()       # last-value prefixes: Runtime.latest()
    # True: last-value frames are taken in order with the service's other events (a SIGNAL
    # handled sees every PRICE published before it); False: on a SUB apart that wakes nothing
    latest_in_order: ClassVar[bool] = False
    local_retry: ClassVar[bool] = False             # the dead-letter path itself (dlq-retry)

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.config: Config = runtime.config
        self.state = runtime.state
        self.log = runtime.log
        self.clock = runtime.clock
        self.market_clock = runtime.market_clock
        self.metrics = runtime.metrics

    @classmethod
    def create(cls: type[S], runtime: Runtime) -> S:
        """Build the service with its real collaborators from ``runtime.config``; subclasses
        with collaborators take each as an optional keyword (tests pass fakes)."""
        return cls(runtime)

    async def publish(self, event_type: str | EventType, payload: dict[str, Any], *,
                      parent: Envelope | None = None, correlation_id: str | None = None,
                      timestamp: str | None = None) -> Envelope:
        return await self.runtime.publish(event_type, payload, parent=parent,
                                          correlation_id=correlation_id, timestamp=timestamp)

    # lifecycle ----------------------------------------------------------------------------
    async def setup(self) -> None:
        """Before the bus starts (bind servers, read state)."""

    async def start(self) -> None:
        """After the bus handshake: publishing is safe."""

    async def stop(self) -> None:
        """Graceful stop, after in-flight handlers finished."""

    def kill(self) -> None:
        """Abnormal end: release what can be released at once. Never raises."""

    def heartbeat(self) -> dict[str, Any]:
        """Fields merged into every HEARTBEAT of this service."""
        return {}

    def journal(self) -> JournalFactory | None:
        """The delivery journal the bus uses; None: the default consumer journal. The one hook
        for a service whose own store is its journal (see hope.middleware.dedupe)."""
        return None


def declarations(service: Service) -> Iterable[tuple[str, Any, Callable]]:
    """("subscribe" | "every", declaration, bound method), in definition order."""
    seen: set[str] = set()
    for klass in type(service).__mro__:
        for attr, fn in vars(klass).items():
            if attr in seen or not callable(fn):
                continue
            seen.add(attr)
            for sub in getattr(fn, "_hope_subscriptions", ()):
                yield "subscribe", sub, getattr(service, attr)
            for interval in getattr(fn, "_hope_every", ()):
                yield "every", interval, getattr(service, attr)


def bind(service: Service) -> None:
    """Register a service's declarations and lifecycle on its runtime (before the bus starts)."""
    rt = service.runtime
    if service.local_retry and not (rt.dead_letters and rt.dead_letters.local_only):
        raise ValueError(f"{type(service).__name__} is local_retry: build its runtime with "
                         "default_middleware(bus, local_retry=True)")
    if service.market_clock_from:
        rt.use(MarketTime(rt.market_clock, rt.config.market_clock, service.market_clock_from))
    for prefix in service.latest_of:
        rt.keep_latest(prefix, in_order=service.latest_in_order)
    journal = service.journal()
    if journal is not None:
        rt.bus.use_journal(journal)
    for kind, decl, method in declarations(service):
        if kind == "every":
            interval = decl(service) if callable(decl) else decl
            if interval > 0:
                rt.every(interval, method)
            continue
        prefixes = decl.prefix(service) if callable(decl.prefix) else [decl.prefix]
        for prefix in prefixes:
            rt.subscribe(prefix, method, name=decl.name or method.__name__,
                         verify_id=decl.verify_id, retry_any_topic=decl.retry_any_topic,
                         idempotent=decl.idempotent)
    rt.heartbeat_extras.append(service.heartbeat)
    rt.on_start(service.start)
    rt.on_stop(service.stop)


async def build(cls: type[S], runtime: Runtime, **collaborators: Any) -> S:
    """Create (real collaborators, or the given ones), bind and set up a service."""
    service = cls.create(runtime, **collaborators)
    bind(service)
    await maybe_await(service.setup())
    return service


# --- process entry ------------------------------------------------------------------------

def parse_service_args(name: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"hope-{name}")
    parser.add_argument("--config", help="config file (default: $HOPE_CONFIG or ./hope.toml)")
    parser.add_argument("--state-dir", help="state directory (default: $HOPE_STATE_DIR or ./state)")
    parser.add_argument("--name", default=name,
                        help=f"service name on the bus, its program's name (default: {name}; "
                             f"several scanners or proxies each have their own)")
    return parser.parse_args(argv)


def load_or_exit(name: str, args: argparse.Namespace) -> Config:
    """Load the config; a bad one refuses to start, naming the file and key (exit 78)."""
    from hope import privsep
    from hope.bus import curve

    try:
        config = load(args.config, args.state_dir)
        config.state.ensure()
    except (ConfigError, OSError) as exc:
        print(f"hope {name}: refusing to start: bad config: {exc}", file=sys.stderr)
        sys.exit(EX_CONFIG)
    try:
        curve.check_principal(config, name)
    except curve.CurveKeyError as exc:
        print(f"hope {name}: refusing to start: {curve.refusal(config, exc)}", file=sys.stderr)
        sys.exit(EX_CONFIG)
    try:
        privsep.check_service(config, name)
    except privsep.PrivsepError as exc:
        print(f"hope {name}: refusing to start: {exc}", file=sys.stderr)
        sys.exit(EX_CONFIG)
    return config


def kill_quietly(service: Service, rt: Runtime) -> None:
    """The abnormal-exit path: the service's ``kill`` then the bus's; one that raises is
    logged and never hides the error that brought the process down."""
    for kill in (service.kill, rt.bus.kill):
        try:
            kill()
        except Exception as exc:
            rt.log.error("kill_failed", what=getattr(kill, "__qualname__", repr(kill)),
                         error=f"{type(exc).__name__}: {exc}")


def event_loop_runner() -> Callable[[Any], Any]:
    """``asyncio.run``, or ``uvloop.run`` with ``HOPE_EVENT_LOOP=uvloop`` (a benchmark switch:
    docs/PERFORMANCE.md has what it measured)."""
    if os.environ.get("HOPE_EVENT_LOOP") == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise SystemExit("HOPE_EVENT_LOOP=uvloop but uvloop is not installed") from None
        return uvloop.run
    return asyncio.run


def run_service(cls: type[Service], argv: list[str] | None = None, *,
                name: str | None = None, **collaborators: Any) -> None:
    """Entry point of every service process: ``run_service(ScannerService)``. ``name``
    overrides the class's (probes run under several names); ``collaborators`` go to
    ``cls.create``."""
    from hope.bus.base import BusError
    from hope.bus.zmq import ZmqBus

    args = parse_service_args(name or cls.name, argv)
    name = args.name
    config = load_or_exit(name, args)
    configure_logging(name, config.hope.log_level)

    async def main() -> None:
        try:
            bus = ZmqBus(name, config)
        except BusError as exc:  # its event key is missing or loose: set-up (hope keys init)
            print(f"hope {name}: refusing to start: {exc}", file=sys.stderr)
            sys.exit(EX_CONFIG)
        rt = Runtime(name, config, bus,
                     middleware=default_middleware(bus, local_retry=cls.local_retry))
        service = await build(cls, rt, **collaborators)
        # Latency: set-up objects out of the collector's sight; young pauses ~1 ms at 10,000 (5-7 ms
        # at 50,000, the same total), older generations as rarely as before (docs/PERFORMANCE.md).
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 100, 100)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, rt.request_stop)
        try:
            await rt.run()
        except BaseException:
            kill_quietly(service, rt)
            raise

    try:
        event_loop_runner()(main())
    except ConfigError as exc:
        print(f"hope {name}: refusing to start: bad config: {exc}", file=sys.stderr)
        sys.exit(EX_CONFIG)
