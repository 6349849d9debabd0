"""The gateway as a real process: proxy + audit-writer + gateway; HTTP in, audit log out."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from hope.bus.zmq import ZmqBus
from hope.envelope import new_event
from hope.testing import Processes, async_wait_for, make_config, read_jsonl

pytestmark = pytest.mark.integration
TOKENS = {scope: f"integration-{scope}-token-0123456789" for scope in ("signals", "read",
                                                                         "control")}


@pytest.fixture
def gateway_procs(state_dir):
    toml = state_dir / "hope.toml"
    toml.write_text("[gateway]\nport = 0\n")
    group = Processes(state_dir, env={"HOPE_CONFIG": str(toml), **{
        f"HOPE_GATEWAY_TOKEN_{scope.upper()}": token for scope, token in TOKENS.items()}})
    try:
        yield group, toml
    finally:
        group.kill_all()


def audited(state_dir, family: str, event_id: str) -> bool:
    return any(r.get("event_id") == event_id
               for r in read_jsonl(state_dir / "events" / f"{family}.jsonl"))


async def test_signal_over_http_lands_in_the_audit_log(state_dir, gateway_procs):
    """POST /v1/signals on the real gateway → SIGNAL in events/signals.jsonl; halt → CONTROL."""
    procs, toml = gateway_procs
    procs.proxy()
    procs.service("audit-writer", "audit_writer")
    procs.service("gateway", "gateway")
    config = make_config(state_dir, config_path=str(toml))
    listener = ZmqBus("test-listener", config, recover=False, journal=False)
    listener.subscribe("HEARTBEAT.gateway")
    await listener.start()
    try:
        beat = await async_wait_for(lambda: None if listener.inbox.empty()
                                    else listener.inbox.get_nowait(), timeout=60,
                                    message="a gateway heartbeat")
        port = beat.payload["http_port"]
        assert port > 0 and beat.payload["endpoints"]["signals"].endswith(f":{port}/v1/signals")
    finally:
        await listener.stop()
    # the market clock the gateway judges market_ts by: a PRICE from the market-data publisher
    feed = ZmqBus("scanner", config, recover=False, journal=False, outbox=False)
    await feed.start()
    try:
        await feed.publish(new_event("PRICE", {"symbol": "EVXBTC", "price": 1.5e-05,
                                               "market_ts": 1_610_226_000.0}, source="scanner"))
    finally:
        await feed.stop()
    base = f"http://127.0.0.1:{port}"
    auth, reads, control = ({"Authorization": f"Bearer {TOKENS[s]}"}
                            for s in ("signals", "read", "control"))
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 30
        while True:  # 422 naming market_ts until the gateway has seen the PRICE
            async with http.post(base + "/v1/signals", headers=auth, json={
                    "symbol": "EVXBTC", "price": 1.5e-05, "market_ts": 1_610_226_000.0}) as resp:
                accepted = await resp.json()
            if resp.status != 422 or time.monotonic() > deadline:
                break
            assert accepted["field"] == "market_ts"
            await asyncio.sleep(0.1)
        assert resp.status == 202, accepted
        # price and market_ts left out: filled from the PRICE the gateway's last-value SUB kept
        async with http.post(base + "/v1/signals", headers=auth, json={"symbol": "EVXBTC"}
                             ) as resp:
            filled = await resp.json()
            assert resp.status == 202, filled
        async with http.post(base + "/v1/signals", json={"symbol": "EVXBTC"}) as resp:
            assert resp.status == 401
        await async_wait_for(lambda: audited(state_dir, "signals", accepted["event_id"]),
                             timeout=30, message="the SIGNAL in the audit log")
        async with http.get(base + f"/v1/events/{accepted['correlation_id']}",
                            headers=reads) as resp:
            hops = (await resp.json())["hops"]
            assert resp.status == 200 and hops[0]["event_id"] == accepted["event_id"]
        async with http.post(base + "/v1/trading/halt", headers=control) as resp:
            assert resp.status == 200
            control = await resp.json()
        await async_wait_for(lambda: audited(state_dir, "system", control["event_id"]),
                             timeout=30, message="the CONTROL in the audit log")
    assert (state_dir / "trading_state").read_text().count("HALTED") == 1
    assert procs.stop("gateway") == 0
