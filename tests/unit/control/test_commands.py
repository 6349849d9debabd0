"""CONTROL commands: payloads, addressing, set_trading_state and the trading-state follower."""

from __future__ import annotations

import pytest

from hope.control import addressed_to, control_payload
from hope.control.flatten import flatten_payload, is_flatten
from hope.control.retry import retry_ok_payload, retry_payload
from hope.control.trading import TradingStateFollower, set_trading_state
from hope.envelope import new_event
from hope.trading.state import ACTIVE, HALTED, REDUCING, TradingStateStore


def control(command, service="*"):
    return new_event("CONTROL", control_payload(command, service), source="cli")


def test_payloads_match_the_documented_wire_messages():
    """Each command's payload is exactly what its module docstring shows."""
    assert control_payload("halt") == {"service": "*", "command": "halt"}
    assert flatten_payload() == {"service": "*", "command": "flatten"}
    assert retry_payload("L1") == {"service": "dlq-retry", "command": "retry", "dlq_id": "L1"}
    assert retry_payload() == {"service": "dlq-retry", "command": "retry", "all": True}
    assert retry_ok_payload("L1") == {"service": "dlq-retry", "command": "retry_ok",
                                      "dlq_id": "L1"}
    assert control("halt").topic == "CONTROL.*"


def test_addressing():
    """"*" reaches everyone; a named service only itself."""
    assert addressed_to({"service": "*"}, "executor")
    assert addressed_to({"service": "executor"}, "executor", "x")
    assert not addressed_to({"service": "scanner"}, "executor")
    assert is_flatten(flatten_payload("executor"), "executor")
    assert not is_flatten(flatten_payload("scanner"), "executor")
    assert not is_flatten(control_payload("halt"), "executor")


async def test_set_trading_state_writes_the_file_then_publishes(tmp_path):
    """The file holds the new state before the CONTROL goes out, and the change is reported."""
    store = TradingStateStore(tmp_path / "trading_state")
    store.save(ACTIVE)
    seen = []

    async def publish(payload):
        seen.append((store.load(), payload))
        return "sent"

    change = await set_trading_state(store, "reduce", "test", publish)
    assert seen == [(REDUCING, {"service": "*", "command": "reduce"})]
    assert (change.previous, change.state, change.published, change.error) == \
        (ACTIVE, REDUCING, "sent", None)


async def test_set_trading_state_keeps_the_file_when_the_bus_is_down(tmp_path):
    """A failed publish is returned, not raised; the file already holds the change."""
    store = TradingStateStore(tmp_path / "trading_state")

    async def publish(payload):
        raise ConnectionError("no proxy")

    change = await set_trading_state(store, "halt", "test", publish)
    assert isinstance(change.error, ConnectionError) and store.load() == HALTED
    assert change.previous_error and "missing" in change.previous_error
    with pytest.raises(ValueError, match="flatten"):
        await set_trading_state(store, "flatten", "test", publish)


async def test_follower_obeys_control_for_its_names_and_persists_when_owner(tmp_path):
    """CONTROL for "*" or one of its names changes the state; the owner writes the file."""
    store = TradingStateStore(tmp_path / "trading_state")
    store.save(ACTIVE)
    changes = []

    async def on_change(old, new, why):
        changes.append((old, new, why))

    owner = TradingStateFollower(store, ACTIVE, names=("decision-engine",), persist=True,
                                 on_change=on_change)
    assert not await owner.on_control(control("halt", "executor"))
    assert not await owner.on_control(control("flatten"))
    assert await owner.on_control(control("halt", "decision-engine"))
    assert owner.state == HALTED and store.load() == HALTED
    assert changes == [(ACTIVE, HALTED, "CONTROL halt")]
    memory = TradingStateFollower(store, HALTED, names=("x",))
    assert await memory.on_control(control("resume"))
    assert memory.state == ACTIVE and store.load() == HALTED  # not the owner: file untouched


async def test_follower_reload_follows_the_file_and_doubt_halts(tmp_path):
    """reload() takes the file's state; a corrupt file reads HALTED; no change, no callback."""
    store = TradingStateStore(tmp_path / "trading_state")
    store.save(REDUCING)
    changes = []
    f = TradingStateFollower(store, ACTIVE, names=(), on_change=lambda *c: changes.append(c))
    await f.reload()
    await f.reload()
    assert f.state == REDUCING and changes == [(ACTIVE, REDUCING, "state file")]
    store.path.write_text("garbage")
    await f.reload()
    assert f.state == HALTED


async def test_follower_hold_keeps_it_halted(tmp_path):
    """While hold() gives a reason, neither CONTROL resume nor the file leaves HALTED."""
    store = TradingStateStore(tmp_path / "trading_state")
    store.save(ACTIVE)
    reason = ["ledger unreadable"]
    f = TradingStateFollower(store, ACTIVE, names=(), hold=lambda: reason[0])
    assert f.state == HALTED
    await f.on_control(control("resume"))
    await f.reload()
    assert f.state == HALTED
    reason[0] = None
    await f.reload()
    assert f.state == ACTIVE
