"""Tests for hope.health.registry: heartbeat bookkeeping and atomic writes."""

import json
import os

import pytest

from hope.health.registry import Registry, atomic_write_json


def test_observe_records_identity_and_progress():
    """A heartbeat's identity fields go to the entry, the rest to progress."""
    reg = Registry()
    e = reg.observe({"service": "scanner", "pid": 42, "host": "h", "version": "0.1",
                     "epoch": "e1", "http_port": None, "handled": 10, "queue_depth": 3}, 100.0)
    assert (e.pid, e.host, e.epoch, e.last_beat, e.beats) == (42, "h", "e1", 100.0, 1)
    assert e.progress == {"handled": 10, "queue_depth": 3}


def test_rate_from_successive_beats():
    """The handled rate is the counter delta over the time between two beats."""
    reg = Registry()
    reg.observe({"service": "s", "pid": 1, "handled": 10}, 100.0)
    e = reg.observe({"service": "s", "pid": 1, "handled": 30}, 102.0)
    assert e.rate == 10.0


def test_rate_from_events_in_map_when_no_handled():
    """Without ``handled`` the sum of events_in serves as the progress counter."""
    reg = Registry()
    reg.observe({"service": "s", "pid": 1, "events_in": {"PRICE": 1}}, 100.0)
    e = reg.observe({"service": "s", "pid": 1, "events_in": {"PRICE": 4, "SIGNAL": 1}}, 101.0)
    assert e.rate == 4.0 and e.last_progress_at == 101.0


def test_missing_service_is_refused():
    """A heartbeat without a service name raises ValueError naming the field."""
    with pytest.raises(ValueError, match="payload.service"):
        Registry().observe({"pid": 1}, 1.0)


def test_write_then_read_round_trip(tmp_path):
    """The registry written atomically reads back with every service and extra keys."""
    reg = Registry()
    reg.observe({"service": "executor", "pid": 7, "http_port": 8080}, 5.0)
    path = tmp_path / "run" / "registry.json"
    reg.write(path, {"written_at": 5.0})
    data = Registry.read(path)
    assert data["services"]["executor"]["http_port"] == 8080 and data["written_at"] == 5.0
    assert [p.name for p in path.parent.iterdir()] == ["registry.json"]  # no temp left behind


def test_failed_write_keeps_the_old_file(tmp_path):
    """A write that fails mid-way leaves the previous registry intact and no temp file."""
    path = tmp_path / "registry.json"
    atomic_write_json(path, {"services": {}})
    loop: dict = {}
    loop["self"] = loop  # json.dump fails part-way through on a circular reference
    with pytest.raises(ValueError):
        atomic_write_json(path, {"services": {}, "bad": loop})
    assert json.loads(path.read_text()) == {"services": {}}
    assert os.listdir(tmp_path) == ["registry.json"]


def test_read_garbage_names_the_file(tmp_path):
    """A corrupt registry raises ValueError with file and line."""
    path = tmp_path / "registry.json"
    path.write_text("{\n oops")
    with pytest.raises(ValueError, match="registry.json:2"):
        Registry.read(path)
