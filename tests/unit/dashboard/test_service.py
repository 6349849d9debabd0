"""The dashboard service on the in-process bus: history from the audit log at start, live
events pushed as updates, the gateway's address from its heartbeat, the read token file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from hope.bus.memory import LocalBroker
from hope.dashboard.auth import ENV_READ, TokenError, load_read_token
from hope.dashboard.service import DashboardService
from hope.dashboard.testing import trade
from hope.envelope import new_event
from hope.testing import drain, service_for_tests, stop_service
from tests.helpers import write_audit

TOKEN = "t" * 32


async def dashboard(tmp_path, broker):
    svc = await service_for_tests(DashboardService, tmp_path, broker, {"dashboard": {"port": 0}},
                                  token=TOKEN)
    await svc.runtime.bus.start()
    return svc


async def test_history_then_live_events_each_counted_once(tmp_path):
    """What the audit log holds is folded in at start; a live repeat of it (the handler is
    idempotent: the bus keeps no id for it) adds nothing; a new event is pushed as an update."""
    old = trade("NASBTC")
    events = tmp_path / "events"
    for env, family in zip(old, ("signals", "decisions", "orders", "fills", "closes"),
                           strict=True):
        write_audit(events, family, [env])
    broker = LocalBroker()
    svc = await dashboard(tmp_path, broker)
    try:
        await svc.catch_up()
        assert svc.runtime.idempotent("SIGNAL.NASBTC") and svc.runtime.idempotent("PRICE.X")
        assert svc.history["records"] == 5 and svc.history["changed"] == 5
        assert svc.model.marker_counts()["NASBTC"]["CLOSE"] == 1
        last = svc.updates.last  # the resync update
        scanner = broker.bus("scanner")
        await scanner.publish(old[0])  # the same SIGNAL again: a repeat
        new = trade("EVXBTC")[0]
        await scanner.publish(new)
        await drain(svc)
        counts = svc.model.marker_counts()
        assert counts["NASBTC"]["SIGNAL"] == 1 and counts["EVXBTC"]["SIGNAL"] == 1
        (n, data), = svc.updates.since(last)
        assert json.loads(data)["updates"][0]["marker"]["id"] == new.event_id
    finally:
        await stop_service(svc)


async def test_gateway_address_comes_from_its_heartbeat(tmp_path):
    """The kill switch forwards to the address the gateway announces in its heartbeat."""
    broker = LocalBroker()
    svc = await dashboard(tmp_path, broker)
    try:
        assert svc.snapshot()["controls"]["gateway"] is None
        beat = new_event("HEARTBEAT", {"service": "gateway", "pid": 1, "endpoints": {
            "trading": "http://127.0.0.1:9999/v1/trading"}}, source="gateway")
        await broker.bus("gateway").publish(beat)
        await drain(svc)
        assert svc.gateway_base == "http://127.0.0.1:9999"
        assert svc.snapshot()["controls"] == {"resume_allowed": False,
                                              "gateway": "http://127.0.0.1:9999"}
        assert svc.heartbeat()["http_port"] == svc.port > 0
    finally:
        await stop_service(svc)


def test_read_token_is_the_gateways_read_scope_file(tmp_path):
    """The read token comes from keys/gateway-read.token as the gateway reads it (made 0600 if
    missing, a loose mode tightened with a warning); the env variable overrides; a short
    token is refused naming where it came from."""
    keys = tmp_path / "keys"
    token, where, warnings = load_read_token(keys, env={})
    path = keys / "gateway-read.token"
    assert where == str(path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_read_token(keys, env={})[0] == token and len(token) >= 32
    assert load_read_token(keys, env={ENV_READ: "e" * 20})[0] == "e" * 20
    os.chmod(path, 0o644)
    assert "tightened" in load_read_token(keys, env={})[2][0]
    with pytest.raises(TokenError, match="shorter than 16"):
        load_read_token(keys, env={ENV_READ: "short"})
