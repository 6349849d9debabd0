"""The supervisord event listener under a real supervisord."""

import json
import sys

import pytest

from hope.testing import wait_for

pytestmark = pytest.mark.integration

LISTENER_CONF = """
[unix_http_server]
file={root}/s.sock
[supervisord]
logfile={root}/sd.log
pidfile={root}/sd.pid
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:crasher]
command={python} -c "raise SystemExit(3)"
startsecs=1
startretries=1
autorestart=true
[eventlistener:hope-events]
command={python} -c "import json, sys; from hope.health.eventlistener import serve; out = open('{root}/out.jsonl', 'a', buffering=1); serve(sys.stdin.buffer, sys.stdout.buffer, lambda p: out.write(json.dumps(p) + chr(10)))"
events=PROCESS_STATE_EXITED,PROCESS_STATE_BACKOFF,PROCESS_STATE_FATAL
buffer_size=1024
"""


def test_real_supervisord_backoff_and_fatal_reach_the_publisher(state_dir, start_supervisord):
    """Under a real supervisord, a crashing program's BACKOFF and FATAL reach publish()."""
    root = state_dir
    conf = root / "sd.conf"
    conf.write_text(LISTENER_CONF.format(root=root, python=sys.executable))
    start_supervisord(conf=conf)
    out = root / "out.jsonl"

    def statuses():
        if not out.exists():
            return []
        return [json.loads(line) for line in out.read_text().splitlines()]

    wait_for(lambda: any(p["status"] == "FATAL" for p in statuses()), timeout=30.0,
             message="a FATAL event from the listener")
    got = statuses()
    assert all(p["service"] == "crasher" for p in got)
    assert {"BACKOFF", "FATAL"} <= {p["process_state"] for p in got}
