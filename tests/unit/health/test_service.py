"""Tests for hope.health.service: the monitor on the in-process bus, with real HTTP."""

import json
import time

import aiohttp
import pytest

from hope.bus.memory import LocalBroker
from hope.clock import ManualClock
from hope.health.service import HealthService
from hope.testing import (
    async_wait_for,
    drain,
    runtime_for_tests,
    service_for_tests,
    stop_service,
)


async def _rig(tmp_path, sock):
    # Real time as the start: supervisord reports real process start times.
    broker, clock = LocalBroker(), ManualClock(time.time())
    mon = await service_for_tests(HealthService, tmp_path, broker, {"health": {
        "port": 0, "required": ["scanner"], "supervisor_socket": str(sock),
        "down_after_s": 5.0, "restart_grace_s": 10.0, "startup_grace_s": 20.0}}, clock=clock)
    scanner = runtime_for_tests("scanner", tmp_path, broker)
    for rt in (mon.runtime, scanner):
        await rt.bus.start()
    return broker, clock, mon, scanner, mon.check


async def _stop(mon):
    await stop_service(mon)


async def _heard(mon, clock, seconds):
    """``seconds`` pass with the monitor's own beat coming back every second (it hears)."""
    for _ in range(int(seconds)):
        clock.advance(1.0)
        await mon.runtime.beats.beat()
        await drain(mon)


async def test_health_goes_up_then_503_when_beats_stop(tmp_path):
    """/health is 200 after a beat, 503 naming the service once beats stop; HEALTH events flow."""
    broker, clock, mon, scanner, check = await _rig(tmp_path, tmp_path / "none.sock")
    try:
        url = f"http://127.0.0.1:{mon.port}"
        async with aiohttp.ClientSession(url) as http:
            async with http.get("/health") as r:
                assert r.status == 503
            for rt in (scanner, mon.runtime):
                await rt.beats.beat()
            await drain(mon)
            async with http.get("/health") as r:
                assert r.status == 200
            await _heard(mon, clock, 6)
            await check()
            async with http.get("/health") as r:
                body = await r.json()
                assert r.status == 503 and body["not_up"]["scanner"]["status"] == "DOWN"
            async with http.get("/metrics") as r:
                assert 'hope_service_up{service="scanner"} 0.0' in await r.text()
            async with http.get("/") as r:
                assert r.status == 200 and "scanner" in await r.text()
        health = [(e.payload["service"], e.payload["status"]) for e in broker.published
                  if e.event_type == "HEALTH"]
        assert health == [("scanner", "UP"), ("scanner", "DOWN")]
    finally:
        await _stop(mon)


async def test_registry_file_has_bound_port_and_services(tmp_path):
    """run/registry.json names the monitor's bound HTTP port and the services seen."""
    broker, clock, mon, scanner, check = await _rig(tmp_path, tmp_path / "none.sock")
    try:
        await scanner.beats.beat()
        await drain(mon)
        await check()
        data = json.loads((tmp_path / "run" / "registry.json").read_text())
        assert data["monitor"]["http_port"] == mon.port
        assert data["services"]["health-monitor"]["http_port"] == mon.port
        assert data["services"]["scanner"]["status"] == "UP"
    finally:
        await _stop(mon)


async def test_a_cut_off_monitor_warns_judges_nobody_and_counts_the_outage(tmp_path):
    """Its own beat not back for 3 s: /health warns and the silent scanner stays UP; past
    down_after_s /health answers 503 naming the monitor CUT_OFF (never the scanner); once its
    beat is back all clears and /metrics counts one bus link outage."""
    broker, clock, mon, scanner, check = await _rig(tmp_path, tmp_path / "none.sock")
    try:
        url = f"http://127.0.0.1:{mon.port}"
        for rt in (scanner, mon.runtime):
            await rt.beats.beat()
        await drain(mon)
        async with aiohttp.ClientSession(url) as http:
            clock.advance(3.0)  # nobody's beats arrive
            await check()
            async with http.get("/health") as r:
                body = await r.json()
                assert r.status == 200, body
                assert any("own heartbeat not back" in w for w in body["warnings"]), body
            clock.advance(3.0)  # 6 s: past down_after_s for the scanner's silence too
            await check()
            async with http.get("/health") as r:
                body = await r.json()
                assert r.status == 503 and set(body["not_up"]) == {"health-monitor"}, body
                assert body["not_up"]["health-monitor"]["status"] == "CUT_OFF"
            await mon.runtime.beats.beat()
            await drain(mon)
            async with http.get("/health") as r:
                body = await r.json()
                assert r.status == 200, body
                assert not any("own heartbeat" in w for w in body.get("warnings", []))
            async with http.get("/metrics") as r:
                assert "hope_monitor_bus_link_outages_total 1.0" in await r.text()
    finally:
        await _stop(mon)


@pytest.mark.integration
async def test_silent_running_process_is_restarted_through_supervisord(tmp_path, supervisord):
    """A supervised process that never beats while RUNNING is HUNG and gets a new pid."""
    client = supervisord
    broker, clock, mon, scanner, check = await _rig(tmp_path, client.socket_path)
    try:
        old = client.process_info("scanner")["pid"]
        await mon.runtime.beats.beat()  # its first own beat back: it hears the bus
        await drain(mon)
        await _heard(mon, clock, 6)
        await check()  # never beat, but started moments ago: startup grace
        assert mon.monitor.registry.get("scanner").status != "HUNG"
        await _heard(mon, clock, 20)
        await check()
        assert mon.monitor.registry.get("scanner").status == "HUNG"
        await async_wait_for(lambda: client.process_info("scanner")["pid"] not in (0, old),
                             timeout=20.0, message="a restarted scanner")
        assert mon.monitor.restarts_total == 1
    finally:
        await _stop(mon)
