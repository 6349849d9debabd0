"""The runtime's middleware on the in-process bus: market clock, RETRY validation, journal hook."""

from __future__ import annotations

import pytest

from hope.audit.service import AuditLogJournal, AuditWriterService
from hope.bus.cursor import Cursors
from hope.bus.memory import LocalBroker
from hope.config import ConfigError
from hope.envelope import new_event
from hope.heartbeat import heartbeat_event
from hope.middleware.market_clock import MarketTime
from hope.service import Service, every, subscribe
from hope.testing import drain, make_config, runtime_for_tests, service_for_tests

T0 = 1_610_226_000.0
SIGNAL = {"symbol": "EVXBTC", "strategy": "pump", "price": 1.0, "market_ts": T0}


def price(ts: float, symbol: str = "EVXBTC") -> dict:
    return {"symbol": symbol, "price": 1.0, "market_ts": ts}


class PriceWatcher(Service):
    """Counts the PRICEs its handler sees, on the market clock."""

    name = "watcher"
    market_clock_from = "PRICE"

    def __init__(self, runtime) -> None:
        super().__init__(runtime)
        self.seen: list[float] = []

    @subscribe("PRICE")
    def on_price(self, env) -> None:
        self.seen.append(env.payload["market_ts"])

    @subscribe("SIGNAL")
    def on_signal(self, env) -> None:
        self.seen.append(-1.0)


async def _watcher(tmp_path, broker, **market_clock):
    svc = await service_for_tests(PriceWatcher, tmp_path, broker,
                                  {"market_clock": market_clock} if market_clock else None)
    await svc.runtime.bus.start()
    return svc


async def test_price_from_the_scanner_moves_the_clock_forward_only(tmp_path):
    """PRICE market_ts from a market-data publisher moves the clock forward, never back."""
    broker = LocalBroker()
    svc = await _watcher(tmp_path, broker)
    pub = broker.bus("scanner")
    for ts in (T0, T0 + 300, T0 + 200):
        await pub.publish(new_event("PRICE", price(ts), source="scanner"))
    await drain(svc)
    assert svc.market_clock.now() == T0 + 300 and svc.seen == [T0, T0 + 300, T0 + 200]


async def test_signal_never_moves_the_market_clock(tmp_path):
    """A SIGNAL's market_ts is the signal's business: the clock stays where PRICE put it."""
    broker = LocalBroker()
    svc = await _watcher(tmp_path, broker)
    pub = broker.bus("scanner")
    await pub.publish(new_event("PRICE", price(T0), source="scanner"))
    await pub.publish(new_event("SIGNAL", {**SIGNAL, "market_ts": T0 + 50}, source="scanner"))
    await drain(svc)
    assert svc.market_clock.now() == T0 and svc.seen == [T0, -1.0]


async def test_price_from_another_publisher_is_not_market_data(tmp_path):
    """A PRICE whose publisher is not in [market_clock] publishers moves nothing, reaches no
    handler and is counted."""
    broker = LocalBroker()
    svc = await _watcher(tmp_path, broker)
    await broker.bus("gateway").publish(new_event("PRICE", price(T0), source="gateway"))
    await drain(svc)
    assert svc.market_clock.now() is None and svc.seen == []
    assert svc.runtime.middleware[-1].heartbeat()["market_clock_foreign"] == 1


async def test_a_jump_beyond_the_bound_is_refused_with_an_alert(tmp_path):
    """A PRICE that would push the clock further than max_step_s is refused, counted, ALERTed,
    and no handler sees it; the next PRICE within the bound is accepted."""
    broker = LocalBroker()
    svc = await _watcher(tmp_path, broker, max_step_s=3600.0)
    pub = broker.bus("scanner")
    for ts in (T0, T0 + 86400 * 365 * 30, T0 + 60):
        await pub.publish(new_event("PRICE", price(ts), source="scanner"))
    await drain(svc)
    assert svc.market_clock.now() == T0 + 60 and svc.seen == [T0, T0 + 60]
    (alert,) = [e for e in broker.published if e.event_type == "ALERT"]
    assert alert.payload["kind"] == "market_clock_jump" and alert.payload["clock"] == T0
    beat = svc.runtime.middleware[-1].heartbeat()
    assert beat["market_clock_refused"] == 1 and beat["market_ts"] == T0 + 60


@pytest.mark.parametrize("first", [T0 * 1000, 1e6])
async def test_a_first_market_ts_outside_the_sanity_window_is_refused(tmp_path, first):
    """A first PRICE in milliseconds (or near the epoch) cannot fix the clock for good: it is
    refused with an ALERT and the next PRICE in seconds sets the clock."""
    broker = LocalBroker()
    svc = await _watcher(tmp_path, broker)
    pub = broker.bus("scanner")
    for ts in (first, T0):
        await pub.publish(new_event("PRICE", price(ts), source="scanner"))
    await drain(svc)
    assert svc.market_clock.now() == T0 and svc.seen == [T0]
    (alert,) = [e for e in broker.published if e.event_type == "ALERT"]
    assert alert.payload["clock"] is None and alert.payload["market_ts"] == first


def test_market_clock_config_is_validated(tmp_path):
    """An empty publisher list or a non-positive step refuses to load, naming the key."""
    with pytest.raises(ConfigError, match="publishers"):
        make_config(tmp_path, {"market_clock": {"publishers": []}})
    with pytest.raises(ConfigError, match="max_step_s"):
        make_config(tmp_path, {"market_clock": {"max_step_s": 0.0}})


async def test_heartbeat_source_carries_the_scanner_market_clock(tmp_path):
    """In HEARTBEAT mode the scanner's beat moves the clock; another service's beat does not,
    and both beats still reach the handler."""
    broker = LocalBroker()
    rt = runtime_for_tests("dlq-retry", tmp_path, broker)
    rt.use(MarketTime(rt.market_clock, rt.config.market_clock, "HEARTBEAT"))
    beats = []
    rt.subscribe("HEARTBEAT", lambda env: beats.append(env.source), name="hb")
    await rt.bus.start()
    await broker.bus("executor").publish(heartbeat_event("executor", "e1", 0.0,
                                                         market_ts=T0 + 99))
    await broker.bus("scanner").publish(heartbeat_event("scanner", "e2", 0.0, market_ts=T0))
    await drain(rt)
    assert rt.market_clock.now() == T0 and beats == ["executor", "scanner"]


@pytest.mark.parametrize("forge", [
    {"payload": {**SIGNAL, "price": 99.0}},         # content changed, id kept
    {"schema_version": "9.0"},                      # a schema nobody knows
    {"payload": {**SIGNAL, "price": -1.0}},         # breaks the SIGNAL payload rules
])
async def test_retry_with_a_bad_embedded_event_is_refused(tmp_path, forge):
    """A RETRY whose embedded event fails the receive path's validation runs no handler and
    is counted."""
    broker = LocalBroker()
    rt = runtime_for_tests("executor", tmp_path, broker)
    calls = []
    rt.subscribe("SIGNAL", lambda env: calls.append(env), name="h")
    await rt.bus.start()
    event = {**new_event("SIGNAL", SIGNAL, source="scanner").to_dict(), **forge}
    retry = {"service": "executor", "dlq_id": "d1", "handler": "h", "attempt": 2,
             "event": event}
    await broker.bus("dlq-retry").publish(new_event("RETRY", retry, source="dlq-retry"))
    await drain(rt)
    assert calls == [] and rt.metrics["bad_retries"] == 1
    assert not [e for e in broker.published if e.event_type == "CONTROL"]


async def test_successful_retry_acknowledges_to_its_sender(tmp_path):
    """After the retried handler succeeds, the sender of the RETRY gets CONTROL retry_ok."""
    broker = LocalBroker()
    rt = runtime_for_tests("executor", tmp_path, broker)
    rt.subscribe("SIGNAL", lambda env: None, name="h")
    await rt.bus.start()
    event = new_event("SIGNAL", SIGNAL, source="scanner").to_dict()
    retry = {"service": "executor", "dlq_id": "d7", "handler": "h", "attempt": 2, "event": event}
    await broker.bus("dlq-retry").publish(new_event("RETRY", retry, source="dlq-retry"))
    await drain(rt)
    (ack,) = [e for e in broker.published if e.event_type == "CONTROL"]
    assert ack.topic == "CONTROL.dlq-retry"
    assert ack.payload == {"service": "dlq-retry", "command": "retry_ok", "dlq_id": "d7"}


def _retry_of(event, handler: str = "on_price") -> dict:
    return {"service": "watcher", "dlq_id": "d1", "handler": handler, "attempt": 2,
            "event": event.to_dict()}


@pytest.mark.parametrize("publisher, ts", [("evil", T0 + 10), ("scanner", T0 + 1e10)])
async def test_retry_goes_through_the_market_clock_rules(tmp_path, publisher, ts):
    """A RETRY's embedded PRICE meets the same rules as a delivered one: a foreign publisher
    or a jump beyond the bound reaches no handler and leaves the clock where it was."""
    broker = LocalBroker()
    svc = await _watcher(tmp_path, broker, max_step_s=3600.0)
    await broker.bus("scanner").publish(new_event("PRICE", price(T0), source="scanner"))
    embedded = new_event("PRICE", price(ts), source=publisher)
    await broker.bus("dlq-retry").publish(new_event("RETRY", _retry_of(embedded),
                                                    source="dlq-retry"))
    await drain(svc)
    assert svc.seen == [T0] and svc.market_clock.now() == T0
    assert svc.runtime.metrics["retries_refused"] == 1
    assert not [e for e in broker.published if e.event_type == "CONTROL"]


async def test_retry_of_an_event_outside_the_handlers_topic_is_refused(tmp_path):
    """A RETRY naming the PRICE handler but carrying a SIGNAL runs nothing and is counted."""
    broker = LocalBroker()
    svc = await _watcher(tmp_path, broker)
    embedded = new_event("SIGNAL", SIGNAL, source="scanner")
    await broker.bus("dlq-retry").publish(new_event("RETRY", _retry_of(embedded),
                                                    source="dlq-retry"))
    await drain(svc)
    assert svc.seen == [] and svc.runtime.metrics["bad_retries"] == 1


async def test_retry_filed_under_a_pre_upgrade_handler_name_runs_the_handler(tmp_path):
    """A dead letter filed when handlers were closures (setup.<locals>.h) still retries h."""
    broker = LocalBroker()
    rt = runtime_for_tests("executor", tmp_path, broker)
    calls = []
    rt.subscribe("SIGNAL", lambda env: calls.append(env.event_id), name="h")
    await rt.bus.start()
    event = new_event("SIGNAL", SIGNAL, source="scanner")
    retry = {"service": "executor", "dlq_id": "d9", "handler": "setup.<locals>.h",
             "attempt": 2, "event": event.to_dict()}
    await broker.bus("dlq-retry").publish(new_event("RETRY", retry, source="dlq-retry"))
    await drain(rt)
    assert calls == [event.event_id] and rt.metrics["bad_retries"] == 0


async def test_audit_writer_supplies_its_log_as_the_delivery_journal(tmp_path):
    """The audit writer's journal seeds the bus cursors from the log and turns a range no
    outbox can replay into a GAP record; it never dedupes on its own."""
    svc = await service_for_tests(AuditWriterService, tmp_path, LocalBroker())
    svc.writer.record_gap("scanner", "e1", 1, 3)
    cursors = Cursors(track_all=True)
    journal = svc.journal()(cursors)
    assert isinstance(journal, AuditLogJournal)
    journal.open()
    assert cursors.get(cursors.key("scanner", "e1", "")).low == 3
    journal.missing("scanner", "e1", 4, 5)
    assert svc.writer.stats["gaps"] == 2 and not journal.is_done("audit", "sha256:x")
    svc.writer.close()


class Declared(Service):
    """Declarations in definition order; an interval of 0 leaves a task out."""

    name = "declared"

    @subscribe(lambda self: ["A", "B"], name="first")
    def first(self, env) -> None: ...

    @subscribe("A")
    def second(self, env) -> None: ...

    @every(0.25)
    def often(self) -> None: ...

    @every(lambda self: 0)
    def never(self) -> None: ...


async def test_declarations_register_in_order(tmp_path):
    """Subscriptions register in definition order, once per prefix; periodic tasks with their
    intervals; the service's heartbeat and lifecycle are hooked up."""
    svc = await service_for_tests(Declared, tmp_path)
    rt = svc.runtime
    assert [(e.prefix, e.name) for e in rt._handlers] == [
        ("RETRY.declared", "retry"), ("A", "first"), ("B", "first"), ("A", "second")]
    assert [i for i, fn in rt._periodic if fn.__name__ in ("often", "never")] == [0.25]
    assert svc.heartbeat in rt.heartbeat_extras and svc.stop in rt._on_stop


async def test_kill_never_raises_even_after_stop(tmp_path):
    """kill() of each product service releases what it holds and never raises, also twice and
    after a graceful stop."""
    from hope.dlq.service import DlqRetryService
    from hope.execution.service import ExecutorService
    from hope.scanner.service import ScannerService
    from hope.testing import stop_service

    for i, cls in enumerate((ExecutorService, DlqRetryService, ScannerService,
                             AuditWriterService)):
        svc = await service_for_tests(cls, tmp_path / str(i), LocalBroker())
        await stop_service(svc)
        svc.kill()
        svc.kill()
