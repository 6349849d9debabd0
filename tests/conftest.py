"""Shared fixtures: short state dirs, process groups and supervisord that are always torn down,
and a guard that fails any test whose process opens a connection beyond this machine."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from hope.eventauth.keys import ENROL_ENV
from hope.testing import Processes, Supervisord, short_tmpdir

# Tests start bus clients under names of their own in fresh state dirs: each creates its event
# key pair on first use (inherited by every process a test starts). Production has no such
# variable: `hope keys init` creates the principals and a missing key refuses to start.
os.environ.setdefault(ENROL_ENV, "1")

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


INTEGRATION_DIR = Path(__file__).parent / "integration"


@pytest.hookimpl(tryfirst=True)  # before -m deselects: a forgotten pytestmark still counts
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests under tests/integration/ are ``integration``; ``perf`` tests run only when the
    -m expression names them (another -m, e.g. "not integration", replaces the addopts one)."""
    for item in items:
        if INTEGRATION_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
    if "perf" in (config.option.markexpr or ""):
        return
    perf = [item for item in items if item.get_closest_marker("perf")]
    if perf:
        config.hook.pytest_deselected(items=perf)
        items[:] = [item for item in items if not item.get_closest_marker("perf")]


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


@pytest.fixture
def start_supervisord(state_dir: Path) -> Iterator[Callable[..., Supervisord]]:
    """``start_supervisord(env=None, conf=None, keys=True, **render_options)`` starts
    supervisord on ``state_dir`` (the project's template unless ``conf``; audit keys created
    first unless ``keys=False``); every one started is shut down at the end of the test."""
    started: list[Supervisord] = []

    def start(env: dict[str, str] | None = None, conf: Path | None = None, keys: bool = True,
              **render_options: Any) -> Supervisord:
        if keys and conf is None:
            from hope.cli import main as hope_main
            assert hope_main(["keys", "init", "--state-dir", str(state_dir)]) == 0
        sup = Supervisord(state_dir, env, conf, **render_options)
        started.append(sup)
        sup.start()
        return sup

    try:
        yield start
    finally:
        for sup in started:
            sup.shutdown()


@pytest.fixture
def supervisor(start_supervisord: Callable[..., Supervisord]) -> Supervisord:
    """supervisord running every HOPE program of the template on ``state_dir``."""
    return start_supervisord()


# One program, "hope:scanner", that only sleeps: the smallest supervisord that a client of its
# XML-RPC interface (hope.health.supervisor) can query, restart and stop.
SLEEPER_CONF = """
[unix_http_server]
file={state}/run/supervisor.sock
[supervisord]
logfile={state}/logs/supervisord.log
pidfile={state}/run/supervisord.pid
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:scanner]
command={python} -c "import time; time.sleep(1000)"
startsecs=0
stopwaitsecs=2
autorestart=true
[group:hope]
programs=scanner
"""


@pytest.fixture
def supervisord(state_dir: Path, start_supervisord: Callable[..., Supervisord]):
    """A SupervisorClient of a supervisord whose one program ``scanner`` is RUNNING."""
    import sys

    from hope.health.supervisor import SupervisorClient
    from hope.paths import StatePaths
    from hope.testing import wait_for

    StatePaths.at(state_dir).ensure()
    conf = state_dir / "run" / "sleeper.conf"
    conf.write_text(SLEEPER_CONF.format(state=state_dir, python=sys.executable))
    start_supervisord(conf=conf)
    client = SupervisorClient(state_dir / "run" / "supervisor.sock", "hope", timeout=10.0)

    def scanner_running() -> bool:
        try:
            return client.states().get("scanner", {}).get("state") == "RUNNING"
        except Exception:  # the socket is not there yet
            return False

    wait_for(scanner_running, timeout=20, message="the sleeper program RUNNING")
    return client
