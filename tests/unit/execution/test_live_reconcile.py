"""The executor on a live venue, reconciliation and the service: breaker, first start, keys."""

from __future__ import annotations

import asyncio
import os

import pytest

from hope.bus.memory import LocalBroker
from hope.clock import ManualClock
from hope.config import ConfigError
from hope.execution.live_reconcile import failure_key
from hope.execution.service import ExecutorService
from hope.execution.venue_guard import VenueGuard
from hope.testing import async_wait_for, service_for_tests
from hope.trading.ids import client_order_id
from hope.trading.state import HALTED, TradingStateStore
from hope.venue.adapter import WithdrawalsEnabled
from hope.venue.errors import VenueUnknown
from hope.venue.gate import CLOSED, OPEN
from hope.venue.keys import write_key_file
from hope.venue.orders import VenueOrder
from hope.venue.status import read_status
from tests.helpers import ExecutorRecorder
from tests.live_venue import SYM, ScriptedVenue, decision, make, venue_order


async def test_reconciliation_report_passes_or_opens_the_breaker(tmp_path):
    """Matching books close the breaker; an unknown HOPE order at the venue opens it with ALERT."""
    ex, venue, _ = make(tmp_path)
    pub = ExecutorRecorder()
    await ex.reconcile(pub)
    assert ex.gate.state == CLOSED and pub.of("RECONCILIATION")[0].payload["passed"]
    venue.open = [VenueOrder.parse({"symbol": SYM, "clientOrderId": "hope-stranger",
                                    "orderId": 9, "side": "BUY", "status": "NEW",
                                    "origQty": "5", "executedQty": "0"})]
    await ex.reconcile_venue(pub)
    assert ex.gate.state == OPEN and "hope-stranger" in ex.gate.reason
    assert not pub.of("RECONCILIATION")[1].payload["passed"]
    assert pub.of("ALERT", kind="reconciliation_failed")

async def test_a_buy_rejected_as_not_found_that_shows_up_later_fails_reconciliation(tmp_path):
    """-2013 past the grace → REJECTED; the order appears later: reconciliation names it."""
    ex, venue, wall = make(tmp_path)
    ex.bcfg.unknown_grace_s = 10
    venue.answers["buy"].append(VenueUnknown("reset after sending"))
    venue.answers["query"] += [None, None]
    pub, d = ExecutorRecorder(), decision()
    await ex.handle_decision(d, pub)
    wall.advance(11)
    await ex.resolve_pending(pub)
    assert [e.payload["status"] for e in pub.of("ORDER")] == ["UNKNOWN", "REJECTED"]
    cid = client_order_id(d.event_id)
    await ex.reconcile_venue(pub)
    assert ex.gate.state == CLOSED  # still not there: nothing to say
    venue.orders[cid] = venue_order(cid)   # the venue shows it after all
    await ex.reconcile_venue(pub)
    assert ex.gate.state == OPEN and cid in ex.gate.reason
    assert pub.of("RECONCILIATION")[-1].payload["found_later"][0]["order_id"] == cid
    wall.advance(3601)
    await ex.reconcile_venue(pub)   # found: kept failing until an operator releases it
    assert ex.gate.state == OPEN
    assert ex.rechecks.release(cid)  # what `hope ack-position <order_id>` does
    await ex.reconcile_venue(pub)
    assert ex.gate.state == CLOSED

async def test_service_first_start_is_halted_and_reconciles_before_trading(tmp_path):
    """First start on a live venue: HALTED; breaker reconciling → closed; status file written."""
    broker, venue = LocalBroker(), ScriptedVenue()
    svc = await service_for_tests(ExecutorService, tmp_path / "st", broker,
                                  {"execution": {"exchange": "binance"}}, exchange=venue)
    task = asyncio.create_task(svc.runtime.run())
    try:
        await async_wait_for(lambda: [e for e in broker.published
                                      if e.event_type == "RECONCILIATION"], message="report")
        await async_wait_for(lambda: svc.executor.gate.state == CLOSED, message="closed")
        await svc.publish_breaker()
        states = [e.payload["state"] for e in broker.published
                  if e.event_type == "BREAKER" and e.payload["name"] == "venue"]
        assert states[0] == "reconciling" and states[-1] == "closed"
        assert TradingStateStore(svc.runtime.state.trading_state).load() == HALTED
        assert svc.executor.trading_state == HALTED
        status = read_status(svc.runtime.state.venue)
        assert status["breaker"]["state"] == "closed" and status["last_reconciliation"]["passed"]
        assert svc.heartbeat()["breakers"] == {"exchange": "closed", "venue": "closed"}
    finally:
        svc.runtime.request_stop()
        await task

async def test_service_refuses_a_key_file_readable_by_others(tmp_path):
    """A 0644 secret file refuses to start (ConfigError → exit 78) naming the file, not the key."""
    keys = tmp_path / "st" / "keys" / "binance"
    write_key_file(keys / "api_key", "K")
    write_key_file(keys / "secret", "TOPSECRET")
    os.chmod(keys / "secret", 0o640)
    with pytest.raises(ConfigError) as err:
        await service_for_tests(ExecutorService, tmp_path / "st", LocalBroker(),
                                {"execution": {"exchange": "binance"}})
    assert str(keys / "secret") in str(err.value) and "TOPSECRET" not in str(err.value)


async def _failed_at_start(tmp_path):
    """A live executor whose first reconciliation failed: the venue holds an order HOPE
    cannot name. The service, its scripted venue and its clock."""
    broker, venue, clock = LocalBroker(), ScriptedVenue(), ManualClock()
    venue.open = [VenueOrder.parse({"symbol": SYM, "clientOrderId": "hope-stranger",
                                    "orderId": 9, "side": "BUY", "status": "NEW",
                                    "origQty": "5", "executedQty": "0"})]
    svc = await service_for_tests(ExecutorService, tmp_path / "st", broker,
                                  {"execution": {"exchange": "binance"}}, clock=clock,
                                  exchange=venue)
    await svc.runtime.bus.start()
    await svc.start()
    assert svc.executor.gate.state == OPEN
    return svc, venue, clock


async def test_service_reconciles_again_after_a_failure(tmp_path):
    """A failed reconciliation is retried by the periodic task (30 s) and trading may resume."""
    svc, venue, clock = await _failed_at_start(tmp_path)
    assert read_status(svc.runtime.state.venue)["breaker"]["state"] == "open"
    venue.open = []
    await svc.reconcile_again()
    assert svc.executor.gate.state == OPEN  # not due yet
    clock.advance(31)
    await svc.reconcile_again()
    assert svc.executor.gate.state == CLOSED
    assert read_status(svc.runtime.state.venue)["breaker"]["state"] == "closed"
    await svc.stop()


async def test_failed_retries_publish_no_breaker_event_until_the_state_changes(tmp_path):
    """Two retries failing alike leave the venue breaker open with no BREAKER event and no
    second ALERT; the retry that passes publishes one transition, open → closed."""
    svc, venue, clock = await _failed_at_start(tmp_path)
    broker = svc.runtime.bus.broker

    def venue_breakers():
        return [(e.payload["previous"], e.payload["state"]) for e in broker.published
                if e.event_type == "BREAKER" and e.payload["name"] == "venue"]

    def alerts():
        return [e for e in broker.published if e.event_type == "ALERT"
                and e.payload.get("kind") == "reconciliation_failed"]

    before, reconciliations = venue_breakers(), svc.executor.stats["reconciliations"]
    assert before[-1][1] == "open" and len(alerts()) == 1
    for _ in range(2):
        clock.advance(31)
        await svc.reconcile_again()
    assert svc.executor.stats["reconciliations"] == reconciliations + 2
    assert svc.executor.gate.state == OPEN and "hope-stranger" in svc.executor.gate.reason
    assert venue_breakers() == before and len(alerts()) == 1
    venue.open = []
    clock.advance(31)
    await svc.reconcile_again()
    assert venue_breakers() == before + [("open", "closed")]
    await svc.republish_breaker()  # for late subscribers: the state as it is, still
    assert venue_breakers()[-1] == ("closed", "closed")
    await svc.stop()


async def test_service_does_not_reconcile_while_the_venue_may_not_be_asked(tmp_path):
    """Backing off after a 429: a due retry waits until Retry-After has passed (it could not
    run, and asking while banned extends the ban), then runs and may close the breaker."""
    svc, venue, clock = await _failed_at_start(tmp_path)
    svc.executor.guard = VenueGuard(clock=clock)
    svc.executor.guard.budget.observe(429, {"Retry-After": "60"})
    venue.open = []
    reconciliations = svc.executor.stats["reconciliations"]
    clock.advance(31)
    await svc.reconcile_again()
    assert svc.executor.stats["reconciliations"] == reconciliations   # postponed
    clock.advance(30)
    await svc.reconcile_again()
    assert svc.executor.gate.state == CLOSED
    await svc.stop()


async def test_service_refuses_to_start_with_a_key_that_may_withdraw(tmp_path):
    """apiRestrictions enableWithdrawals: reported, breaker open, and the start refused (78)."""
    broker, venue = LocalBroker(), ScriptedVenue()

    async def may_withdraw():
        raise WithdrawalsEnabled("API key restriction enableWithdrawals is true")

    venue.check_restrictions = may_withdraw
    svc = await service_for_tests(ExecutorService, tmp_path / "st", broker,
                                  {"execution": {"exchange": "binance"}}, exchange=venue)
    await svc.runtime.bus.start()
    with pytest.raises(ConfigError, match="enableWithdrawals"):
        await svc.start()
    assert svc.executor.gate.state == OPEN
    (report,) = [e for e in broker.published if e.event_type == "RECONCILIATION"]
    assert "enableWithdrawals" in report.payload["error"]


def test_a_failure_differing_only_in_its_durations_is_the_same_failure():
    """A retry refused "12 s left" is the failure refused "13 s left": one ALERT, not two."""
    a = "reconciliation could not run: venue: refused locally: venue IP ban (HTTP 418): 13 s left"
    assert failure_key(a) == failure_key(a.replace("13 s", "12 s"))
    assert failure_key(a) != failure_key(a.replace("418", "429"))
