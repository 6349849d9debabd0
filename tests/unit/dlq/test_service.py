"""Tests for hope.dlq.service: the retry daemon wired to services on the in-process bus."""

from hope.bus.memory import LocalBroker
from hope.clock import ManualClock
from hope.dlq.service import DlqRetryService
from hope.testing import drain, runtime_for_tests, service_for_tests

SIGNAL = {"symbol": "EVXBTC", "strategy": "pump", "price": 1.0, "market_ts": 1_700_000_000.0}


async def _rig(tmp_path, fail_times, **dlq):
    broker, clock = LocalBroker(), ManualClock()
    cfg = {"jitter": False, "min_backoff_s": 1.0, "success_after_s": 5.0, **dlq}
    daemon = await service_for_tests(DlqRetryService, tmp_path, broker, {"dlq": cfg}, clock=clock)
    target = runtime_for_tests("executor", tmp_path, broker)
    calls = []

    def flaky(env):
        calls.append(env.event_id)
        if len(calls) <= fail_times:
            raise RuntimeError(f"failure {len(calls)}")

    target.subscribe("SIGNAL", flaky, name="flaky")
    for rt in (daemon.runtime, target):
        await rt.bus.start()
    await target.beats.beat()  # the daemon only retries services it has heard beating
    tick = daemon.tick
    return broker, clock, daemon, target, calls, tick


async def _step(clock, seconds, tick, daemon, target):
    clock.advance(seconds)
    await target.beats.beat()  # the target keeps beating, as a live service does
    await drain(daemon, target)
    await tick()
    await drain(daemon, target)


async def test_fails_twice_then_succeeds_and_letter_is_done(tmp_path):
    """A handler failing twice is retried on RETRY.executor, succeeds, and the letter ends done."""
    broker, clock, daemon, target, calls, tick = await _rig(tmp_path, fail_times=2)
    await target.publish("SIGNAL", SIGNAL)
    await drain(daemon, target)
    await _step(clock, 1.0, tick, daemon, target)
    await _step(clock, 2.0, tick, daemon, target)
    assert len(calls) == 3 and len(set(calls)) == 1
    await _step(clock, 5.0, tick, daemon, target)
    assert daemon.daemon.depth() == {"pending": 0, "retrying": 0, "parked": 0, "done": 1}
    retries = [e for e in broker.published if e.event_type == "RETRY"]
    assert [e.topic for e in retries] == ["RETRY.executor"] * 2
    assert [e.payload["attempt"] for e in retries] == [2, 3]


async def test_always_failing_is_parked_with_alert(tmp_path):
    """A handler that always fails is parked after max_retries with every error and an ALERT."""
    broker, clock, daemon, target, calls, tick = await _rig(tmp_path, fail_times=99,
                                                            max_retries=2)
    await target.publish("SIGNAL", SIGNAL)
    await drain(daemon, target)
    for _ in range(4):
        await _step(clock, 10.0, tick, daemon, target)
    (letter,) = daemon.daemon.store.list()
    assert letter.status == "parked" and len(calls) == 3
    assert [e["error"] for e in letter.errors] == [f"RuntimeError: failure {n}" for n in (1, 2, 3)]
    alerts = [e for e in broker.published if e.event_type == "ALERT"]
    assert len(alerts) == 1 and alerts[0].payload["kind"] == "dlq_parked"


async def test_control_retry_resends_a_parked_letter(tmp_path):
    """A CONTROL.dlq-retry retry command makes a parked letter go out once more."""
    broker, clock, daemon, target, calls, tick = await _rig(tmp_path, fail_times=1,
                                                            max_retries=0)
    await target.publish("SIGNAL", SIGNAL)
    await drain(daemon, target)
    assert daemon.daemon.store.list()[0].status == "parked"
    await target.publish("CONTROL", {"service": "dlq-retry", "command": "retry", "all": True})
    await drain(daemon, target)
    await _step(clock, 0.0, tick, daemon, target)
    assert len(calls) == 2


async def test_heartbeat_reports_dlq_depth(tmp_path):
    """The daemon's heartbeat carries the DLQ depth by status."""
    broker, clock, daemon, target, calls, tick = await _rig(tmp_path, fail_times=1)
    await target.publish("SIGNAL", SIGNAL)
    await drain(daemon, target)
    await daemon.runtime.beats.beat()
    beat = [e for e in broker.published if e.event_type == "HEARTBEAT"
            and e.source == "dlq-retry"][-1]
    assert beat.payload["dlq"]["pending"] == 1


async def test_no_retry_to_a_silent_service(tmp_path):
    """A due letter is held while its service has not beaten recently, then sent when it does."""
    broker, clock, daemon, target, calls, tick = await _rig(tmp_path, fail_times=1)
    await target.publish("SIGNAL", SIGNAL)
    await drain(daemon, target)
    clock.advance(30.0)
    await tick()
    await drain(daemon, target)
    assert len(calls) == 1 and daemon.daemon.depth()["pending"] == 1
    await _step(clock, 0.0, tick, daemon, target)
    assert len(calls) == 2


async def test_daemon_takes_market_time_from_the_scanner_heartbeat_not_prices(tmp_path):
    """dlq-retry subscribes no PRICE: its market clock follows the scanner's heartbeat, and
    its own failures stay in-process (it is the dead-letter path)."""
    from hope.heartbeat import heartbeat_event

    broker = LocalBroker()
    daemon = await service_for_tests(DlqRetryService, tmp_path, broker)
    assert not [e for e in daemon.runtime._handlers if e.prefix.startswith("PRICE")]
    assert daemon.runtime.dead_letters.local_only
    await daemon.runtime.bus.start()
    await broker.bus("scanner").publish(heartbeat_event("scanner", "e1", 0.0,
                                                        market_ts=1_610_226_000.0))
    await drain(daemon)
    assert daemon.market_clock.now() == 1_610_226_000.0
