"""The service runtime on the in-process bus: dispatch, dead letters, retries, heartbeats; what
it journals for idempotent and other events."""

from __future__ import annotations

import asyncio

from hope.bus.base import Sequencer
from hope.bus.consumed import ConsumerJournal
from hope.bus.cursor import Cursors
from hope.bus.memory import LocalBroker
from hope.bus.zmq import ZmqBus
from hope.codec import decode_obj
from hope.envelope import new_event
from hope.middleware.market_clock import MarketTime
from hope.runtime import Runtime, default_middleware
from hope.tails import read_frames
from hope.testing import async_wait_for, drain, make_config, runtime_for_tests
from tests.helpers import EagerBus

SIGNAL = {"symbol": "EVXBTC", "strategy": "pump", "price": 1.0, "market_ts": 1_600_000_000.0}
PRICE = {"symbol": "EVXBTC", "price": 1.0, "market_ts": 1_600_000_000.0}


async def started(*services):
    for svc in services:
        await svc.bus.start()


async def test_failing_handler_is_dead_lettered_and_the_loop_goes_on(state_dir):
    """A raising handler produces a DEAD_LETTER; other handlers and later events still run."""
    broker = LocalBroker()
    svc = runtime_for_tests("decision-engine", state_dir, broker)
    seen = []

    def boom(env):
        raise ValueError("bad signal")

    svc.subscribe("SIGNAL", boom, name="boom")
    svc.subscribe("SIGNAL", lambda env: seen.append(env.event_id), name="ok")
    await started(svc)
    for i in range(2):
        await broker.bus("scanner").publish(
            new_event("SIGNAL", {**SIGNAL, "price": 1.0 + i}, source="scanner"))
    await drain(svc)
    assert len(seen) == 2
    dead = [e for e in broker.published if e.event_type == "DEAD_LETTER"]
    assert len(dead) == 2
    p = dead[0].payload
    assert p["handler"] == "boom" and p["service"] == "decision-engine"
    assert p["error"] == "ValueError: bad signal" and p["attempt"] == 1
    assert dead[0].causation_id == p["event"]["event_id"]


async def test_retry_runs_only_the_failed_handler_once(state_dir):
    """A RETRY for one handler re-runs that handler only, and never after it succeeded."""
    broker = LocalBroker()
    svc = runtime_for_tests("executor", state_dir, broker)
    calls = {"flaky": 0, "other": 0}

    def flaky(env):
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise RuntimeError("exchange timeout")

    svc.subscribe("SIGNAL", flaky, name="flaky")
    svc.subscribe("SIGNAL", lambda env: calls.__setitem__("other", calls["other"] + 1),
                  name="other")
    await started(svc)
    sig = await broker.bus("scanner").publish(new_event("SIGNAL", SIGNAL, source="scanner"))
    await drain(svc)
    dlq = broker.bus("dlq-retry")
    retry = {"service": "executor", "dlq_id": "d1", "handler": "flaky", "attempt": 2,
             "event": sig.to_dict()}
    for _ in range(2):  # the second retry must be a no-op
        await dlq.publish(new_event("RETRY", retry, source="dlq-retry"))
        await drain(svc)
    assert calls == {"flaky": 2, "other": 1}


async def test_redelivered_event_runs_no_handler_twice(state_dir):
    """The same event delivered twice runs each handler once (dedupe by event_id)."""
    broker = LocalBroker()
    svc = runtime_for_tests("executor", state_dir, broker)
    seen = []
    svc.subscribe("SIGNAL", lambda env: seen.append(env.event_id), name="h")
    await started(svc)
    sig = await broker.bus("scanner").publish(new_event("SIGNAL", SIGNAL, source="scanner"))
    svc.bus.inbox.put_nowait(sig)
    await drain(svc)
    assert seen == [sig.event_id]


async def test_async_handler_timeout_is_a_failure(state_dir):
    """An async handler that exceeds handler_timeout_s is dead-lettered as a timeout."""
    broker = LocalBroker()
    svc = runtime_for_tests("executor", state_dir, broker,
                            overrides={"bus": {"handler_timeout_s": 0.05}})

    async def stuck(env):
        await asyncio.sleep(10)

    svc.subscribe("SIGNAL", stuck, name="stuck")
    await started(svc)
    await broker.bus("scanner").publish(new_event("SIGNAL", SIGNAL, source="scanner"))
    await drain(svc)
    dead = [e for e in broker.published if e.event_type == "DEAD_LETTER"]
    assert dead and "timed out" in dead[0].payload["error"]


async def test_heartbeat_reports_progress_and_extras(state_dir):
    """HEARTBEAT carries pid, epoch, handled counts, queue depth and registered extras."""
    broker = LocalBroker()
    svc = runtime_for_tests("scanner", state_dir, broker)
    svc.subscribe("PRICE", lambda env: None, name="p")
    svc.heartbeat_extras.append(lambda: {"replay": {"trades": 5}})
    await started(svc)
    await svc.beats.beat()
    hb = [e for e in broker.published if e.event_type == "HEARTBEAT"][-1]
    assert hb.topic == "HEARTBEAT.scanner" and hb.seq == 0  # ephemeral: not sequenced
    assert hb.payload["epoch"] == svc.bus.epoch and hb.payload["replay"] == {"trades": 5}
    assert {"handled", "queue_depth", "pub", "handlers"} <= set(hb.payload)


async def test_stop_request_ends_the_run_loop(state_dir):
    """request_stop() ends run(): handlers finish, on_stop hooks run."""
    broker = LocalBroker()
    svc = runtime_for_tests("executor", state_dir, broker)
    stopped = []
    svc.on_stop(lambda: stopped.append(True))
    task = asyncio.create_task(svc.run())
    await asyncio.sleep(0)
    svc.request_stop()
    await asyncio.wait_for(task, 5)
    assert stopped == [True]


async def test_failure_is_retried_locally_when_the_dead_letter_cannot_be_published(state_dir):
    """If the DEAD_LETTER itself cannot be published (disk full), the runtime keeps the event and
    re-runs the failed handler with backoff until it succeeds."""
    broker = LocalBroker()
    svc = runtime_for_tests("executor", state_dir, broker)
    calls = []

    def flaky(env):
        calls.append(env.event_id)
        if len(calls) < 3:
            raise OSError(28, "No space left on device")

    svc.subscribe("SIGNAL", flaky, name="flaky")
    await started(svc)
    real_publish = svc.bus.publish

    async def publish(env):
        if env.event_type == "DEAD_LETTER":
            raise OSError(28, "No space left on device")
        return await real_publish(env)

    svc.bus.publish = publish
    await broker.bus("scanner").publish(new_event("SIGNAL", SIGNAL, source="scanner"))
    await drain(svc)
    for _ in range(2):
        assert len(svc.dead_letters.pending) == 1
        svc.dead_letters.pending[0].at = 0.0  # due now: backoff itself is not what this test waits for
        await svc.dead_letters.run_due()
    assert len(calls) == 3 and svc.dead_letters.pending == []
    assert svc.bus.is_done("flaky", calls[0])


async def test_local_retry_services_never_dead_letter_to_themselves(state_dir):
    """A service that is the dead-letter path (local_retry) keeps its failures in-process."""
    broker = LocalBroker()
    svc = runtime_for_tests("dlq-retry", state_dir, broker)
    svc.dead_letters.local_only = True
    svc.subscribe("SIGNAL", lambda env: 1 / 0, name="boom")
    await started(svc)
    await broker.bus("scanner").publish(new_event("SIGNAL", SIGNAL, source="scanner"))
    await drain(svc)
    assert not [e for e in broker.published if e.event_type == "DEAD_LETTER"]
    assert len(svc.dead_letters.pending) == 1


async def test_inline_dispatch_keeps_order_when_a_handler_waits(state_dir):
    """Events arrive while an inline-dispatched handler waits: they run after it, in arrival
    order, one at a time (none overtakes the one the handler loop already holds)."""
    svc = runtime_for_tests("executor", state_dir)
    svc.bus = EagerBus(svc.bus)
    gate = asyncio.get_running_loop().create_future()
    order, running = [], []

    async def handler(env):
        n = env.payload["n"]
        running.append(n)
        assert len(running) == 1, f"{running} dispatched at once"
        order.append(n)
        if n == 0:
            await gate
        running.remove(n)

    svc.subscribe("SIGNAL", handler, name="h")
    task = asyncio.create_task(svc.run())
    await async_wait_for(lambda: svc.bus.reader is not None and svc._eager, interval=0.001,
                         message="the service running with inline dispatch")
    events = [new_event("SIGNAL", {**SIGNAL, "n": n}, source="scanner") for n in range(4)]
    svc.bus.reader(events[0])      # inline; waits at the gate
    svc.bus.reader(events[1])      # queued; the handler loop takes it and waits
    for _ in range(5):
        await asyncio.sleep(0)
    gate.set_result(None)
    await async_wait_for(lambda: not svc._dispatching or order != [0], interval=0,
                         message="the first handler finishing")  # ...
    svc.bus.reader(events[2])      # ... must not let this one overtake event 1
    svc.bus.reader(events[3])
    await async_wait_for(lambda: len(order) == 4, interval=0.001, message="four handled")
    assert order == [0, 1, 2, 3]
    svc.request_stop()
    await asyncio.wait_for(task, 5)


def journaled_runtime(state_dir):
    """A runtime over an unstarted ZeroMQ bus whose real consumer journal is open (no sockets:
    events go straight to ``_dispatch``), with an idempotent PRICE and a plain SIGNAL handler."""
    config = make_config(state_dir, {"bus": {"authenticate": False}})
    bus = ZmqBus("executor", config, outbox=False)
    bus.cursors = Cursors(track_all=False)
    bus.journal = ConsumerJournal(state_dir / "consumed.log", bus.cursors)
    bus.journal.open()
    rt = Runtime("executor", config, bus, middleware=default_middleware(bus))
    rt.subscribe("PRICE", lambda env: None, name="on_price", idempotent=True)
    rt.subscribe("SIGNAL", lambda env: None, name="on_signal")
    return rt


def stamped(sequencer: Sequencer, event_type: str, payload: dict):
    env = sequencer.stamp(new_event(event_type, payload, source="scanner"))
    sequencer.commit(env)
    return env


async def test_events_whose_handlers_are_all_idempotent_are_journaled_as_coverage(state_dir):
    """PRICEs through dispatch leave ranges, no ids; a SIGNAL between them its exact record."""
    rt = journaled_runtime(state_dir)
    seq = Sequencer("scanner", "ep")
    prices = [stamped(seq, "PRICE", {**PRICE, "market_ts": PRICE["market_ts"] + i})
              for i in range(3)]
    sig = stamped(seq, "SIGNAL", SIGNAL)
    for env in (prices[0], prices[1], sig, prices[2]):
        await rt._dispatch(env)
    rt.bus.flush_journal()
    frames, _ = read_frames(rt.bus.journal.path.read_bytes())
    assert [decode_obj(chunk) for _, chunk in frames] == [
        ["c", "scanner", "ep", "PRICE", 1, 2],
        ["e", "scanner", "ep", "SIGNAL", 1, sig.event_id, ["on_signal"]],
        ["c", "scanner", "ep", "PRICE", 3, 3]]
    assert list(rt.bus.journal.done) == [sig.event_id]
    assert rt.idempotent("PRICE.EVXBTC") and not rt.idempotent("SIGNAL.EVXBTC")


async def test_one_handler_not_idempotent_makes_its_events_journaled_by_id(state_dir):
    """A second PRICE handler without the declaration: PRICE events keep per-event records."""
    rt = journaled_runtime(state_dir)
    rt.subscribe("PRICE", lambda env: None, name="on_price_too")
    env = stamped(Sequencer("scanner", "ep"), "PRICE", PRICE)
    await rt._dispatch(env)
    assert not rt.idempotent("PRICE.EVXBTC")
    assert rt.bus.journal.is_done("on_price", env.event_id)
    assert rt.bus.journal.is_done("on_price_too", env.event_id)


async def test_a_failed_idempotent_handler_is_dead_lettered_and_retried_once(state_dir):
    """An idempotent handler that raises is dead-lettered (no id kept for its event); a RETRY
    re-runs it and is remembered, so a second RETRY does not."""
    broker = LocalBroker()
    svc = runtime_for_tests("executor", state_dir, broker)
    calls = []

    def flaky(env):
        calls.append(env.event_id)
        if len(calls) == 1:
            raise RuntimeError("no price book")

    svc.subscribe("PRICE", flaky, name="on_price", idempotent=True)
    await started(svc)
    price = await broker.bus("scanner").publish(new_event("PRICE", PRICE, source="scanner"))
    await drain(svc)
    (dead,) = [e for e in broker.published if e.event_type == "DEAD_LETTER"]
    assert dead.payload["handler"] == "on_price" and price.event_id not in svc.bus.done
    retry = {"service": "executor", "dlq_id": "d1", "handler": "on_price", "attempt": 2,
             "event": price.to_dict()}
    for _ in range(2):
        await broker.bus("dlq-retry").publish(new_event("RETRY", retry, source="dlq-retry"))
        await drain(svc)
    assert calls == [price.event_id, price.event_id]
    assert svc.bus.is_done("on_price", price.event_id)
def _price(p: float, ts: float, source: str = "scanner"):
    return new_event("PRICE", {"symbol": "EVXBTC", "price": p, "market_ts": ts}, source=source)


async def test_latest_runs_the_market_clock_rules_once_per_event(state_dir):
    """A last-value read moves the market clock as delivery would: a foreign PRICE and a jump
    past the step bound are refused (the genuine value before them stays), the jump once (one
    ALERT however often it is read), the clock stays; a later genuine PRICE reads and moves it."""
    broker = LocalBroker()
    rt = runtime_for_tests("gw", state_dir, broker)
    rt.use(MarketTime(rt.market_clock, rt.config.market_clock, "PRICE"))
    rt.keep_latest("PRICE")
    await started(rt)
    scanner, t0 = broker.bus("scanner"), 1_610_226_000.0
    assert await rt.newest("PRICE") is None and await rt.latest("PRICE.EVXBTC") is None
    await scanner.publish(_price(1.0, t0))
    assert (await rt.newest("PRICE")).payload["price"] == 1.0 and rt.market_clock.now() == t0
    await broker.bus("evil").publish(_price(2.0, t0 + 1, "evil"))
    assert (await rt.latest("PRICE.EVXBTC")).payload["price"] == 1.0
    assert rt.market_clock.now() == t0
    await scanner.publish(_price(3.0, t0 + 1e9))
    for _ in range(3):
        assert (await rt.newest("PRICE")).payload["price"] == 1.0
    assert rt.market_clock.now() == t0
    (alert,) = [e for e in broker.published if e.event_type == "ALERT"]
    assert alert.payload["kind"] == "market_clock_jump" and alert.payload["market_ts"] == t0 + 1e9
    await scanner.publish(_price(4.0, t0 + 5))
    assert (await rt.latest("PRICE.EVXBTC")).payload["price"] == 4.0
    assert rt.market_clock.now() == t0 + 5 and rt.bus.inbox.empty()


async def test_the_newest_last_value_is_read_every_heartbeat_interval(state_dir):
    """A running service's market clock follows its newest last-value PRICE without a request."""
    broker = LocalBroker()
    rt = runtime_for_tests("gw", state_dir, broker, {"bus": {"heartbeat_interval_s": 0.05}})
    rt.use(MarketTime(rt.market_clock, rt.config.market_clock, "PRICE"))
    rt.keep_latest("PRICE")
    task = asyncio.create_task(rt.run())
    try:
        await async_wait_for(lambda: rt.bus in broker.buses, message="the bus started")
        await broker.bus("scanner").publish(_price(1.0, 1_610_226_000.0))
        await async_wait_for(lambda: rt.market_clock.now() == 1_610_226_000.0,
                             message="the clock moved by the periodic read")
    finally:
        rt.request_stop()
        await asyncio.wait_for(task, 10)
