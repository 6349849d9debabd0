"""The health monitor with real processes under a real supervisord: a handler that blocks
forever is detected (heartbeats stop while the pid lives) and the service is restarted by
supervisord on the monitor's request; ``/health`` goes 503 and back to 200.

Run as a script (``python tests/integration/test_health_processes.py blocker --marker F``) this file is
the blocking service: the first SIGNAL with ``block: true`` blocks its handler loop for good.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hope.service import Service, run_service, subscribe

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve()
REPO = HERE.parent.parent.parent

# The probe program that blocks; proxy, health monitor and event listener come from the template.
BLOCKER = """
[program:blocker]
command={python} {here} blocker --marker {state}/blocked
directory={repo}
priority=50
startsecs=1
stopwaitsecs=2
stdout_logfile={state}/logs/blocker.log
redirect_stderr=true
"""

TOML = """
[bus]
heartbeat_interval_s = 0.5
[health]
port = 0
required = ["blocker"]
down_after_s = 2.0
check_interval_s = 0.5
startup_grace_s = 10.0
restart_grace_s = 5.0
"""


def _health(state: Path) -> tuple[int, dict]:
    data = json.loads((state / "run" / "registry.json").read_text())
    url = f"http://127.0.0.1:{data['monitor']['http_port']}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _status(state: Path) -> int | None:
    try:
        return _health(state)[0]
    except (OSError, ValueError, KeyError):
        return None


async def _publish(state: Path, config: Path, payload: dict) -> None:
    from hope.bus.zmq import ZmqBus
    from hope.config import load
    from hope.envelope import new_event

    bus = ZmqBus("scanner", load(config, state))
    await bus.start()
    try:
        await bus.publish(new_event("SIGNAL", {"symbol": "EVXBTC", "strategy": "probe",
                                               "price": 1.0, "market_ts": 1.7e9, **payload},
                                    source="scanner"))
    finally:
        await bus.stop()


def test_blocked_handler_is_restarted_and_health_recovers(state_dir, start_supervisord):
    """Blocked loop -> HUNG, /health 503 naming it -> supervisord restart -> /health 200."""
    from hope.health.supervisor import SupervisorClient
    from hope.testing import wait_for

    state = state_dir
    config = state / "hope-test.toml"
    config.write_text(TOML)
    start_supervisord(env={"HOPE_CONFIG": str(config)}, keys=False,
                      programs=["proxy", "health-monitor"],
                      extra=BLOCKER.format(python=sys.executable, here=HERE, state=state,
                                           repo=REPO))
    client = SupervisorClient(state / "run" / "supervisor.sock")
    wait_for(lambda: _status(state) == 200, timeout=60.0, interval=0.2,
             message="/health 200 with the blocker up")
    old_pid = client.process_info("blocker")["pid"]
    asyncio.run(_publish(state, config, {"block": True}))
    wait_for(lambda: _status(state) == 503, timeout=30.0, interval=0.1,
             message="/health 503 once the blocker hangs")
    code, body = _health(state)
    assert "blocker" in body["not_up"]
    wait_for(lambda: client.process_info("blocker")["pid"] not in (0, old_pid),
             timeout=30.0, interval=0.2, message="a new blocker pid")
    wait_for(lambda: _status(state) == 200, timeout=30.0, interval=0.2,
             message="/health back to 200")
    registry = json.loads((state / "run" / "registry.json").read_text())
    assert registry["services"]["blocker"]["restarts"] == 1
    assert registry["services"]["health-monitor"]["http_port"] > 0
    listener_log = (state / "logs" / "hope-events.log").read_text()
    assert "hope-eventlistener: started" in listener_log and "Traceback" not in listener_log


class Blocker(Service):
    """Blocks its handler loop for good on the first SIGNAL with ``payload.block``."""

    name = "blocker"

    def __init__(self, runtime, *, marker: str) -> None:
        super().__init__(runtime)
        self.marker = Path(marker)

    @classmethod
    def create(cls, runtime, *, marker: str) -> Blocker:
        return cls(runtime, marker=marker)

    @subscribe("SIGNAL", name="handle")
    def handle(self, env) -> None:
        if env.payload.get("block") and not self.marker.exists():
            self.marker.write_text(str(time.time()))
            time.sleep(3600)  # blocks the handler loop itself: heartbeats stop


def _blocker_main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--marker", required=True)
    args, rest = parser.parse_known_args(argv)
    run_service(Blocker, rest, marker=args.marker)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "blocker":
    _blocker_main(sys.argv[2:])


async def test_eventlistener_main_puts_fatal_on_the_bus(state_dir, procs):
    """``python -m hope.health.eventlistener`` publishes a FATAL it reads as HEALTH.<service>."""
    from hope.bus.zmq import ZmqBus
    from hope.testing import async_wait_for, make_config

    procs.proxy()
    config = make_config(state_dir)
    sub = ZmqBus("listener-test", config)
    sub.subscribe("HEALTH")
    await sub.start()
    try:
        body = b"processname:scanner groupname:hope from_state:BACKOFF"
        header = (f"ver:3.0 server:supervisor serial:1 pool:hope-events poolserial:1 "
                  f"eventname:PROCESS_STATE_FATAL len:{len(body)}\n").encode()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hope.health.eventlistener", "--state-dir", str(state_dir),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(header + body), timeout=60)
        assert out == b"READY\nRESULT 2\nOKREADY\n", err.decode()
        await async_wait_for(lambda: sub.inbox.qsize() >= 1, timeout=20.0,
                             message="a HEALTH event")
        env = sub.inbox.get_nowait()
        assert env.topic == "HEALTH.scanner" and env.payload["status"] == "FATAL"
        assert env.source == "health-listener"
    finally:
        await sub.stop()
