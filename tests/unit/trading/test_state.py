"""Trading state file: atomic persistence, and anything doubtful reads as HALTED."""

from __future__ import annotations

import json

import pytest

from hope.trading.state import (
    ACTIVE,
    HALTED,
    REDUCING,
    TradingStateStore,
    atomic_write_json,
    is_fresh_instance,
)


def test_roundtrip(tmp_path):
    """A saved state reads back."""
    store = TradingStateStore(tmp_path / "trading_state")
    store.save(REDUCING)
    assert store.load() == REDUCING and store.last_error is None


def test_missing_file_is_halted(tmp_path):
    """No file after a restart reads HALTED with a reason."""
    store = TradingStateStore(tmp_path / "trading_state")
    assert store.load() == HALTED
    assert "missing" in store.last_error


@pytest.mark.parametrize("content", ["{not json", '{"state": "PANIC"}', "[1, 2]", ""])
def test_unreadable_or_unknown_is_halted(tmp_path, content):
    """Corrupt JSON, an unknown state or a wrong shape reads HALTED, naming the file."""
    path = tmp_path / "trading_state"
    path.write_text(content)
    store = TradingStateStore(path)
    assert store.load() == HALTED
    assert str(path) in store.last_error


def test_fresh_instance_starts_in_initial_state(tmp_path):
    """Only a fresh instance (no file, no audit log) starts in the initial state, and persists it."""
    store = TradingStateStore(tmp_path / "trading_state")
    assert store.load_or_init(ACTIVE, fresh=True) == ACTIVE
    assert json.loads((tmp_path / "trading_state").read_text())["state"] == ACTIVE


def test_restart_without_file_is_halted(tmp_path):
    """Not fresh (an audit log exists) and no file: HALTED, nothing written."""
    events = tmp_path / "events"
    events.mkdir()
    (events / "system.jsonl").write_text("{}\n")
    assert is_fresh_instance(events)  # audit writer's own files are not trading
    (events / "decisions.jsonl").write_text("{}\n")
    assert not is_fresh_instance(events)
    store = TradingStateStore(tmp_path / "trading_state")
    assert store.load_or_init(ACTIVE, fresh=is_fresh_instance(events)) == HALTED
    assert not (tmp_path / "trading_state").exists()


def test_save_refuses_unknown_state(tmp_path):
    """Saving a state that is not ACTIVE/REDUCING/HALTED raises."""
    with pytest.raises(ValueError, match="trading state"):
        TradingStateStore(tmp_path / "t").save("MAYBE")


def test_atomic_write_leaves_no_temp_files(tmp_path):
    """The atomic writer replaces the file and leaves no temporary behind."""
    target = tmp_path / "d" / "snap.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["snap.json"]


def test_atomic_write_failure_keeps_old_file(tmp_path):
    """A write that fails mid-way leaves the previous content intact."""
    target = tmp_path / "snap.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["snap.json"]
