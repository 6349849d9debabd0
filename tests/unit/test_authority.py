"""The authority table: who may publish what, CONTROL per command, unknown types refused."""

from __future__ import annotations

import pytest

from hope.authority import CONTROL_AUTHORITY, TYPE_AUTHORITY, Authority
from hope.control import ack_position, flatten, retry, trading
from hope.envelope import Envelope, EventType, new_event

AUTH = Authority(["scanner", "bench-injector"])
PAYLOADS = {
    "SIGNAL": {"symbol": "EVXBTC", "strategy": "pump", "price": 1.0, "market_ts": 1.7e9},
    "PRICE": {"symbol": "EVXBTC", "price": 1.0, "market_ts": 1.7e9},
    "WATERMARK": {"watermarks": {}},
}


@pytest.mark.parametrize("etype, signer, allowed", [
    ("SIGNAL", "scanner", True), ("SIGNAL", "gateway", True), ("SIGNAL", "executor", False),
    ("PRICE", "bench-injector", True), ("PRICE", "gateway", False),
    ("WATERMARK", "audit-writer", True), ("WATERMARK", "executor", False),
    ("DECISION", "decision-engine", True), ("DECISION", "gateway", False),
    ("SHADOW_DECISION", "decision-engine-shadow", True), ("SHADOW_DECISION", "decision-engine", False),
    ("ORDER", "executor", True), ("FILL", "decision-engine", False),
    ("ALERT", "anyone", True), ("RETRY", "operator", False), ("RETRY", "dlq-retry", True),
])
def test_type_authority(etype, signer, allowed):
    """Each row of the table grants exactly the principals it names."""
    env = Envelope(event_type=etype, event_id="sha256:0000000000000000", correlation_id="c",
                   timestamp="2026-02-02T15:00:00.123456Z", source=signer,
                   payload=PAYLOADS.get(etype, {}))
    assert (AUTH.refusal(signer, env) is None) is allowed


@pytest.mark.parametrize("command, signer, allowed", [
    ("halt", "operator", True), ("resume", "gateway", True), ("flatten", "operator", True),
    ("resume", "executor", False), ("flatten", "audit-writer", False),
    ("retry", "dlq-retry", True), ("retry", "operator", True), ("retry", "gateway", False),
    ("retry_ok", "executor", True), ("ack_position", "gateway", False),
    ("self_destruct", "operator", False),
])
def test_control_authority_per_command(command, signer, allowed):
    """CONTROL is granted per command; a command not in the table is refused for everyone."""
    env = new_event("CONTROL", {"service": "*", "command": command}, source=signer)
    assert (AUTH.refusal(signer, env) is None) is allowed


def test_heartbeat_and_dead_letter_only_about_the_signer():
    """HEARTBEAT and DEAD_LETTER from anyone, but payload.service must be the signer."""
    hb = new_event("HEARTBEAT", {"service": "executor", "pid": 1}, source="executor")
    assert AUTH.refusal("executor", hb) is None
    assert "only about itself" in AUTH.refusal("gateway", hb)


def test_every_event_type_has_a_row_and_types_outside_are_refused():
    """The table covers EventType; an invented type is refused."""
    assert set(TYPE_AUTHORITY) | {"CONTROL"} == {t.value for t in EventType}
    env = new_event("NOTE", {}, source="operator")
    assert "not in the authority table" in AUTH.refusal("operator", env)


def test_control_modules_state_the_authority_of_their_commands():
    """Each command module names who may send it, as the table does."""
    for module, commands in ((trading, ("halt", "reduce", "resume")), (flatten, ("flatten",)),
                             (ack_position, ("ack_position",)),
                             (retry, ("retry", "retry_ok"))):
        assert "Authority" in module.__doc__
        for command in commands:
            assert command in CONTROL_AUTHORITY


@pytest.mark.parametrize("etype, signer, allowed", [
    ("HEALTH", "health-monitor-2", True), ("SIGNAL", "gateway-3", True),
    ("ORDER", "executor-2", False), ("DECISION", "decision-engine-2", False),
    ("WATERMARK", "audit-writer-2", False), ("HEALTH", "health-monitor-x", False)])
def test_an_instance_has_its_programs_authority_only_where_a_cluster_may_run_several(
        etype, signer, allowed):
    """``health-monitor-2`` may publish HEALTH; ``executor-2`` may not publish ORDER."""
    env = Envelope(event_type=etype, event_id="sha256:0000000000000000", correlation_id="c",
                   timestamp="2026-01-01T00:00:00.000000Z", source=signer,
                   payload=PAYLOADS.get(etype, {}))
    assert (AUTH.refusal(signer, env) is None) is allowed
