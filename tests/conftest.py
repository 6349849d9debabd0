"""Shared fixtures: short state dirs, process groups and supervisord, always torn down."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from hope.testing import Processes, Supervisord, short_tmpdir

settings.register_profile("ci", deadline=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci")


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
