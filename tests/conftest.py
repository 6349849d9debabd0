"""Shared fixtures: short state dirs, process groups that are always torn down, and a guard
that fails any test whose process opens a connection beyond this machine."""

from __future__ import annotations

import ipaddress
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from hope.testing import Processes, short_tmpdir

settings.register_profile("ci", deadline=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci")


# --- no connection beyond loopback -----------------------------------------------------------
# Installed for the whole session at import: every socket.connect/connect_ex of this process to
# an address that is not loopback (or a unix socket) raises, and the test that tried fails at
# teardown even if the code under test swallowed the error. Child processes are not covered:
# they get loopback URLs from the tests.

class NonLoopbackConnection(OSError):
    """A test tried to reach an address outside this machine."""


_violations: list[str] = []
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback(sock: socket.socket, address: object) -> bool:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(address: object) -> None:
    msg = f"test opened a connection to a non-loopback address {address!r}"
    _violations.append(msg)
    raise NonLoopbackConnection(msg)


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _loopback(self, address):
        _refuse(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _loopback(self, address):
        _refuse(address)
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def no_remote_connections() -> Iterator[None]:
    """Fail the test if it tried to connect beyond loopback (even if the error was caught)."""
    start = len(_violations)
    yield
    tried = _violations[start:]
    if tried:
        pytest.fail("; ".join(tried), pytrace=False)


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
