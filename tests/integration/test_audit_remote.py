"""The audit log over the bus: the audit-reader program answers what a host without the log
asks (the decision engine's rebuild), and an engine whose question goes unanswered starts HALTED
and stays so whatever its state file says. Real proxy, audit writer and audit-reader."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hope.audit.remote import AuditUnavailable, fetch
from hope.bus.zmq import ZmqBus
from hope.decision.service import DecisionService
from hope.envelope import new_event
from hope.testing import async_wait_for, audit_records, make_config, service_for_tests, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


HOPE = Path(sys.executable).parent / "hope"


def write_bus_config(state_dir: Path) -> Path:
    path = state_dir / "bus-reader.toml"
    path.write_text('[audit]\nreader = "bus"\n')
    return path


def started(procs, key: str) -> None:
    wait_for(lambda: '"started"' in procs.log_text(key), timeout=30, message=f"{key} started")


async def test_audited_records_are_read_over_the_bus_from_the_audit_reader(state_dir, procs):
    """Signals audited on the audit host come back through fetch(), each once, in order; from a
    host without the log, hope trading status shows the services' states and hope dlq retry
    publishes CONTROL retry."""
    procs.proxy()
    procs.service("audit", "audit_writer")
    procs.service("reader", "audit_reader")
    started(procs, "audit")
    started(procs, "reader")
    ledger = state_dir / "emitted.jsonl"
    procs.probe("emit", "emit", "--name", "scanner", "--count", "30", "--ledger", str(ledger))
    wait_for(lambda: len(audit_records(state_dir, "signals")) >= 30, timeout=30,
             message="30 signals audited")
    config = make_config(state_dir, {"audit": {"reader": "bus"}})
    reader = await fetch(config, ["signals", "decisions"], asker="test")
    got = [r["event_id"] for r in reader.records("signals")]
    emitted = [json.loads(x)["event_id"] for x in ledger.read_text().splitlines() if "seq" in x]
    assert got == emitted and "signals" in reader.families() and "decisions" not in reader.families()
    assert list(reader.records("decisions")) == []
    engine = ZmqBus("decision-engine", config)  # TRADING_STATE is the engine's to publish
    await engine.start()
    try:
        await engine.publish(new_event("TRADING_STATE", {
            "service": "decision-engine", "state": "HALTED", "previous": "ACTIVE", "by": "test"},
            source="decision-engine"))
        await async_wait_for(lambda: any(r["event_type"] == "TRADING_STATE" for r in
                                         audit_records(state_dir, "system")), timeout=15)
    finally:
        await engine.stop()
    out = subprocess.run([str(HOPE), "trading", "status", "--json", "--state-dir", str(state_dir)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HOPE_CONFIG": str(write_bus_config(state_dir))})
    last = [x for x in out.stdout.splitlines() if x.startswith('{"state"')]
    assert last and json.loads(last[-1])["services"] == {"decision-engine": "HALTED"}, \
        out.stdout + out.stderr
    out = subprocess.run([str(HOPE), "dlq", "retry", "dlq-abc123", "--state-dir", str(state_dir)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HOPE_CONFIG": str(write_bus_config(state_dir))})
    assert out.returncode == 0 and "published to dlq-retry" in out.stdout, out.stderr
    wait_for(lambda: any(r["payload"].get("command") == "retry"
                         and r["payload"].get("dlq_id") == "dlq-abc123"
                         for r in audit_records(state_dir, "system")), timeout=15,
             message="the CONTROL retry audited")


async def test_an_engine_that_cannot_rebuild_over_the_bus_starts_halted_and_stays(state_dir,
                                                                                   procs):
    """No audit-reader answers: AuditUnavailable; the engine holds HALTED, says why, and a
    state file saying ACTIVE does not release it."""
    procs.proxy()
    config = make_config(state_dir, {"audit": {"reader": "bus", "reader_timeout_s": 1.5}})
    await async_wait_for(lambda: (state_dir / "run" / "bus-in.sock").exists(), timeout=15)
    with pytest.raises(AuditUnavailable, match="no answer"):
        await fetch(config, ["decisions"], asker="test", timeout_s=1.5)
    (state_dir / "trading_state").write_text(json.dumps({"state": "ACTIVE"}))
    svc = await service_for_tests(DecisionService, state_dir,
                                  overrides={"audit": {"reader": "bus", "reader_timeout_s": 1.5}})
    assert svc.risk.trading == "HALTED" and "not rebuilt" in svc.rebuild_error
    await svc.reload_state()
    await asyncio.sleep(0)
    assert svc.risk.trading == "HALTED" and svc.heartbeat()["rebuild_error"]
