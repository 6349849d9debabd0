"""Shared fixtures: short state dirs and process groups that are always torn down."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from hope.testing import Processes, short_tmpdir

settings.register_profile("ci", deadline=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _local_pins(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Key pins of test instances go to a temp file, never the checkout's hope.local.toml."""
    monkeypatch.setenv("HOPE_PINS_FILE", str(tmp_path_factory.mktemp("pins") / "pins.toml"))


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = short_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def procs(state_dir: Path) -> Iterator[Processes]:
    group = Processes(state_dir)
    try:
        yield group
    finally:
        group.kill_all()
